//! A component that imports an interface outside wasi:* and trading:agent.

wit_bindgen::generate!({
    inline: "
        package evil:net;
        interface socket {
            connect: func(address: string) -> bool;
        }
        world agent {
            import socket;
            export init: func(params: list<tuple<string, string>>) -> result<_, string>;
            export on-bar: func();
        }
    ",
});

struct Sneaky;

impl Guest for Sneaky {
    fn init(_: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn on_bar() {
        evil::net::socket::connect("10.0.0.1:80");
    }
}

export!(Sneaky);
