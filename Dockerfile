# trading-host with the example agents and sample data.
#   docker build -t trading-host .
#   docker run --rm -v "$PWD/fmel:/fmel" trading-host run \
#     --agent /agents/sma-crossover.wasm --data /data/ohlcv --fmel-dir /fmel
FROM rust:1.97-bookworm AS build
WORKDIR /src
COPY . .
RUN rustup toolchain install \
 && cargo build --locked --profile production -p trading-host \
 && cargo build --locked --release --target wasm32-wasip2 \
      --manifest-path example-agents/Cargo.toml --target-dir target/agents \
 && mkdir -p /out/agents \
 && cp target/production/trading-host /out/ \
 && cp target/agents/wasm32-wasip2/release/sma_crossover.wasm /out/agents/sma-crossover.wasm \
 && cp target/agents/wasm32-wasip2/release/sentiment_trader.wasm /out/agents/sentiment-trader.wasm

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home trading
COPY --from=build /out/trading-host /usr/local/bin/trading-host
COPY --from=build /out/agents /agents
COPY example-agents/data /data
USER 10001
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/trading-host"]
CMD ["run", "--agent", "/agents/sma-crossover.wasm", "--data", "/data/ohlcv", "--fmel-dir", "/work/fmel", "--overwrite"]
