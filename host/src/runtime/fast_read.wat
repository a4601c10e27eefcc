;; The fast read builtin (see fast_read.rs): it exports the `market`
;; interface, answers `read`, `updated` and `bar-count` itself and passes
;; the other functions through to the host's. Offsets in braces are filled
;; in from the Rust types.
(component
  (import "{intrinsics}" (instance $intrinsics
    (export "store-data-address" (func (result u64)))
    (export "u32-native-load" (func (param "pointer" u64) (result u32)))
    (export "u32-native-store" (func (param "pointer" u64) (param "value" u32)))
    (export "u64-native-load" (func (param "pointer" u64) (result u64)))
    (export "u64-native-store" (func (param "pointer" u64) (param "value" u64)))
  ))

  ;; `trading:agent/market`, as the host provides it.
  (type $market-type
    (instance
      (type (;0;) u32)
      (export (;1;) "feed-id" (type (eq 0)))
      (type (;2;) u32)
      (export (;3;) "series-id" (type (eq 2)))
      (type (;4;) (list string))
      (type (;5;) (record (field "id" 1) (field "name" string) (field "symbol" string) (field "fields" 4) (field "text-fields" 4)))
      (export (;6;) "feed-info" (type (eq 5)))
      (type (;7;) (list 6))
      (type (;8;) (func (result 7)))
      (export (;0;) "feeds" (func (type 8)))
      (type (;9;) (option 3))
      (type (;10;) (func (param "feed" 1) (param "field" string) (result 9)))
      (export (;1;) "series" (func (type 10)))
      (type (;11;) (func (param "series" 3) (param "offset" s32) (result f64)))
      (export (;2;) "read" (func (type 11)))
      (type (;12;) (list f64))
      (type (;13;) (func (param "series" 3) (param "len" u32) (result 12)))
      (export (;3;) "window" (func (type 13)))
      (type (;14;) (option string))
      (type (;15;) (func (param "series" 3) (param "offset" s32) (result 14)))
      (export (;4;) "read-text" (func (type 15)))
      (type (;16;) (func (param "feed" 1) (result u64)))
      (export (;5;) "bar-count" (func (type 16)))
      (type (;17;) (func (param "feed" 1) (result bool)))
      (export (;6;) "updated" (func (type 17)))
    )
  )
  (import "{market}" (instance $host (type $market-type)))

  (core module $fast
    (import "" "data" (func $data (result i64)))
    (import "" "load32" (func $load32 (param i64) (result i32)))
    (import "" "store32" (func $store32 (param i64 i32)))
    (import "" "load64" (func $load64 (param i64) (result i64)))
    (import "" "store64" (func $store64 (param i64 i64)))
    (import "" "host-read" (func $host-read (param i32 i32) (result f64)))
    (import "" "host-updated" (func $host-updated (param i32) (result i32)))
    (import "" "host-bar-count" (func $host-bar-count (param i32) (result i64)))

    ;; Each intrinsic is a call to wasm, and fuel is written back to the
    ;; store before every call: the path a read takes makes as few as it
    ;; can, and loads paired `u32` fields as one `u64` (low half first).
    (func (export "read") (param $series i32) (param $offset i32) (result f64)
      (local $table i64) (local $pair i64) (local $bounds i64) (local $reads i32) (local $back i32)
      (local $column i64) (local $values i64) (local $high i64) (local $count i64)
      (local.set $table (call $data))
      (block $host
        ;; A series the table answers, at an offset within the history (a
        ;; positive offset wraps past `kept`, which stays below 2^31), a
        ;; read before `stop`: one branch for all three.
        (local.set $back (i32.sub (i32.const 0) (local.get $offset)))
        (local.set $pair (call $load64 (i64.add (local.get $table) (i64.const {reads}))))
        (local.set $reads (i32.wrap_i64 (local.get $pair)))
        (local.set $bounds (call $load64 (i64.add (local.get $table) (i64.const {readable}))))
        (br_if $host (i32.or
          (i32.ge_u (local.get $reads) (i32.wrap_i64 (i64.shr_u (local.get $pair) (i64.const 32))))
          (i32.or
            (i32.ge_u (local.get $series) (i32.wrap_i64 (local.get $bounds)))
            (i32.ge_u (local.get $back) (i32.wrap_i64 (i64.shr_u (local.get $bounds) (i64.const 32)))))))
        (local.set $column (i64.add (call $load64 (i64.add (local.get $table) (i64.const {columns_address})))
          (i64.mul (i64.extend_i32_u (local.get $series)) (i64.const {column_size}))))
        (local.set $values (call $load64 (i64.add (local.get $column) (i64.const {column_values}))))
        (br_if $host (i64.eqz (local.get $values)))

        ;; Logging on or off, and the open run's step.
        (local.set $pair (call $load64 (i64.add (local.get $table) (i64.const {logging}))))
        (if (i32.wrap_i64 (local.get $pair))
          (then
            (local.set $high (i64.shl (i64.extend_i32_u (local.get $series)) (i64.const 32)))
            (if (i64.eq (call $load64 (i64.add (local.get $table) (i64.const {open})))
                  (i64.or (local.get $high) (i64.extend_i32_u (local.get $offset))))
              (then
                ;; The read the open run expected: the next one is a step on.
                (call $store64 (i64.add (local.get $table) (i64.const {open}))
                  (i64.or (local.get $high) (i64.extend_i32_u
                    (i32.add (local.get $offset) (i32.wrap_i64 (i64.shr_u (local.get $pair) (i64.const 32))))))))
              (else
                (br_if $host (i32.eqz
                  (call $log-other (local.get $table) (local.get $series) (local.get $offset) (local.get $reads))))))))
        (call $store32 (i64.add (local.get $table) (i64.const {reads})) (i32.add (local.get $reads) (i32.const 1)))

        ;; The value, or missing (NaN) before the feed's history reaches back
        ;; that far; the masked slot is inside the ring either way.
        (local.set $pair (call $load64 (i64.add (local.get $table) (i64.const {point_slot}))))
        (local.set $count (call $load64 (i64.add
          (call $load64 (i64.add (local.get $column) (i64.const {column_counts})))
          (i64.shl (i64.and (local.get $pair) (i64.const 0xffff_ffff)) (i64.const 3)))))
        (return (select
          (f64.reinterpret_i64 (call $load64 (i64.add (local.get $values)
            (i64.shl
              (i64.and (i64.sub (i64.sub (local.get $count) (i64.const 1)) (i64.extend_i32_u (local.get $back)))
                (i64.shr_u (local.get $pair) (i64.const 32)))
              (i64.const 3)))))
          (f64.const nan)
          (i64.lt_u (i64.extend_i32_u (local.get $back)) (local.get $count))))
      )
      (call $host-read (local.get $series) (local.get $offset))
    )

    ;; `updated` and `bar-count`: from the feed's bar count at the decision
    ;; point and the stamp of its newest bar.
    (func (export "updated") (param $feed i32) (result i32)
      (local $table i64) (local $addresses i64) (local $count i64)
      (local.set $table (call $data))
      (if (i32.ge_u (local.get $feed) (call $load32 (i64.add (local.get $table) (i64.const {answered_feeds}))))
        (then (return (call $host-updated (local.get $feed)))))
      (local.set $addresses (call $feed-addresses (local.get $table) (local.get $feed)))
      (local.set $count (call $count (local.get $table) (local.get $addresses)))
      (if (i64.eqz (local.get $count)) (then (return (i32.const 0))))
      (i64.eq
        (call $load64 (i64.add
          (call $load64 (i64.add (local.get $addresses) (i64.const {feed_stamps})))
          (i64.add
            (i64.mul (i64.and (i64.sub (local.get $count) (i64.const 1)) (i64.const {stamp_mask})) (i64.const {stamp_size}))
            (i64.const {stamp_decision}))))
        (call $load64 (i64.add (local.get $table) (i64.const {at}))))
    )

    (func (export "bar-count") (param $feed i32) (result i64)
      (local $table i64)
      (local.set $table (call $data))
      (if (i32.ge_u (local.get $feed) (call $load32 (i64.add (local.get $table) (i64.const {answered_feeds}))))
        (then (return (call $host-bar-count (local.get $feed)))))
      (call $count (local.get $table) (call $feed-addresses (local.get $table) (local.get $feed)))
    )

    (func $feed-addresses (param $table i64) (param $feed i32) (result i64)
      (i64.add (call $load64 (i64.add (local.get $table) (i64.const {feeds_address})))
        (i64.mul (i64.extend_i32_u (local.get $feed)) (i64.const {feed_size})))
    )

    ;; Bars the feed has delivered by the decision point.
    (func $count (param $table i64) (param $addresses i64) (result i64)
      (call $load64 (i64.add
        (call $load64 (i64.add (local.get $addresses) (i64.const {feed_counts})))
        (i64.shl (i64.extend_i32_u (call $load32 (i64.add (local.get $table) (i64.const {point_slot})))) (i64.const 3))))
    )

    ;; Logs a read the open run does not take, as `Access::fold` folds: the
    ;; second read of a run, one bar or none from the first, sets its step;
    ;; any other starts a run. Returns 0, logging nothing, when the run
    ;; buffer is full: the host takes that read.
    (func $log-other (param $table i64) (param $series i32) (param $offset i32) (param $reads i32) (result i32)
      (local $pending i32) (local $run i64) (local $gap i32) (local $run-end i64) (local $limit i64)
      (local.set $pending (call $load32 (i64.add (local.get $table) (i64.const {pending_len}))))
      ;; No open run but a pending one: it has had one read (the host's
      ;; visits take every run, so the sequence has no gap).
      (if (i32.and
            (i64.eq (call $load64 (i64.add (local.get $table) (i64.const {open}))) (i64.const {no_open_run}))
            (i32.ne (local.get $pending) (i32.const 0)))
        (then
          (local.set $run (i64.add (call $load64 (i64.add (local.get $table) (i64.const {pending})))
            (i64.mul (i64.extend_i32_u (i32.sub (local.get $pending) (i32.const 1))) (i64.const {run_size}))))
          (local.set $gap (i32.sub (local.get $offset) (call $load32 (i64.add (local.get $run) (i64.const {run_offset})))))
          (if (i32.and
                (i32.eq (i32.wrap_i64 (i64.shr_u (call $load64 (local.get $run)) (i64.const 32))) (local.get $series))
                (i32.le_u (i32.add (local.get $gap) (i32.const 1)) (i32.const 2)))
            (then
              (call $store32 (i64.add (local.get $run) (i64.const {run_step})) (local.get $gap))
              (call $store32 (i64.add (local.get $table) (i64.const {open_step})) (local.get $gap))
              (call $store64 (i64.add (local.get $table) (i64.const {open}))
                (i64.or (i64.shl (i64.extend_i32_u (local.get $series)) (i64.const 32))
                  (i64.extend_i32_u (i32.add (local.get $offset) (local.get $gap)))))
              (return (i32.const 1))))))
      (if (i32.ge_u (local.get $pending) (i32.const {pending_cap}))
        (then (return (i32.const 0))))
      (local.set $run (i64.add (call $load64 (i64.add (local.get $table) (i64.const {pending})))
        (i64.mul (i64.extend_i32_u (local.get $pending)) (i64.const {run_size}))))
      ;; seq and series; offset and step 0.
      (call $store64 (local.get $run) (i64.or
        (i64.extend_i32_u (i32.add (call $load32 (i64.add (local.get $table) (i64.const {seq_base}))) (local.get $reads)))
        (i64.shl (i64.extend_i32_u (local.get $series)) (i64.const 32))))
      (call $store64 (i64.add (local.get $run) (i64.const {run_offset})) (i64.extend_i32_u (local.get $offset)))
      (call $store32 (i64.add (local.get $table) (i64.const {pending_len})) (i32.add (local.get $pending) (i32.const 1)))
      (call $store64 (i64.add (local.get $table) (i64.const {open})) (i64.const {no_open_run}))
      ;; A run holds at most {run_max} reads: the builtin stops there, and
      ;; the host takes the next read and starts over.
      (local.set $run-end (i64.add (i64.extend_i32_u (local.get $reads)) (i64.const {run_max})))
      (local.set $limit (i64.extend_i32_u (call $load32 (i64.add (local.get $table) (i64.const {reads_limit})))))
      (call $store32 (i64.add (local.get $table) (i64.const {stop})) (i32.wrap_i64 (select
        (local.get $run-end) (local.get $limit) (i64.lt_u (local.get $run-end) (local.get $limit)))))
      (i32.const 1)
    )
  )

  (core func $data (canon lower (func $intrinsics "store-data-address")))
  (core func $load32 (canon lower (func $intrinsics "u32-native-load")))
  (core func $store32 (canon lower (func $intrinsics "u32-native-store")))
  (core func $load64 (canon lower (func $intrinsics "u64-native-load")))
  (core func $store64 (canon lower (func $intrinsics "u64-native-store")))
  (core func $host-read (canon lower (func $host "read")))
  (core func $host-updated (canon lower (func $host "updated")))
  (core func $host-bar-count (canon lower (func $host "bar-count")))
  (core instance $fast-instance (instantiate $fast (with "" (instance
    (export "data" (func $data))
    (export "load32" (func $load32))
    (export "store32" (func $store32))
    (export "load64" (func $load64))
    (export "store64" (func $store64))
    (export "host-read" (func $host-read))
    (export "host-updated" (func $host-updated))
    (export "host-bar-count" (func $host-bar-count))
  ))))

  (alias export $host "feed-id" (type $feed-id))
  (alias export $host "series-id" (type $series-id))
  (alias export $host "feed-info" (type $feed-info))
  (func $read (param "series" $series-id) (param "offset" s32) (result f64)
    (canon lift (core func $fast-instance "read")))
  (func $updated (param "feed" $feed-id) (result bool)
    (canon lift (core func $fast-instance "updated")))
  (func $bar-count (param "feed" $feed-id) (result u64)
    (canon lift (core func $fast-instance "bar-count")))

  (instance $market
    (export "feed-id" (type $feed-id))
    (export "series-id" (type $series-id))
    (export "feed-info" (type $feed-info))
    (export "feeds" (func $host "feeds"))
    (export "series" (func $host "series"))
    (export "read" (func $read))
    (export "window" (func $host "window"))
    (export "read-text" (func $host "read-text"))
    (export "bar-count" (func $bar-count))
    (export "updated" (func $updated))
  )
  (export "{market}" (instance $market))
)
