;; The fast read builtin (see fast_read.rs): it exports the `market`
;; interface, answers `read` itself and passes the other functions through
;; to the host's. Offsets in braces are filled in from the Rust types.
(component
  (import "{intrinsics}" (instance $intrinsics
    (export "store-data-address" (func (result u64)))
    (export "u32-native-load" (func (param "pointer" u64) (result u32)))
    (export "u32-native-store" (func (param "pointer" u64) (param "value" u32)))
    (export "u64-native-load" (func (param "pointer" u64) (result u64)))
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
    (import "" "host-read" (func $host-read (param i32 i32) (result f64)))

    (func (export "read") (param $series i32) (param $offset i32) (result f64)
      (local $table i64) (local $column i64) (local $values i64) (local $count i64) (local $back i32)
      (local $reads i32) (local $pending i32) (local $seq i32) (local $last i64) (local $run i32) (local $gap i32)
      (local.set $table (call $data))
      (block $host
        ;; A series the table answers, at an offset within the history (a
        ;; positive offset wraps past `kept`, which stays below 2^31), within
        ;; the read bound, with room to log it: one branch for all four.
        (local.set $back (i32.sub (i32.const 0) (local.get $offset)))
        (local.set $reads (call $load32 (i64.add (local.get $table) (i64.const {reads}))))
        (local.set $pending (call $load32 (i64.add (local.get $table) (i64.const {pending_len}))))
        (br_if $host (i32.or
          (i32.or
            (i32.ge_u (local.get $series) (call $load32 (i64.add (local.get $table) (i64.const {readable}))))
            (i32.ge_u (local.get $back) (call $load32 (i64.add (local.get $table) (i64.const {kept})))))
          (i32.or
            (i32.ge_u (local.get $reads) (call $load32 (i64.add (local.get $table) (i64.const {reads_limit}))))
            (i32.ge_u (local.get $pending) (i32.const {pending_cap})))))
        (local.set $column (i64.add (call $load64 (i64.add (local.get $table) (i64.const {columns_address})))
          (i64.mul (i64.extend_i32_u (local.get $series)) (i64.const {column_size}))))
        (local.set $values (call $load64 (i64.add (local.get $column) (i64.const {column_values}))))
        (br_if $host (i64.eqz (local.get $values)))

        (call $store32 (i64.add (local.get $table) (i64.const {reads})) (i32.add (local.get $reads) (i32.const 1)))
        (local.set $seq (call $load32 (i64.add (local.get $table) (i64.const {seq}))))
        (call $store32 (i64.add (local.get $table) (i64.const {seq})) (i32.add (local.get $seq) (i32.const 1)))
        (if (call $load32 (i64.add (local.get $table) (i64.const {logging})))
          (then
            (block $logged
              ;; The read continues the last run, as `Access::fold` folds:
              ;; the next sequence number, the same series, and the run's step.
              (block $new-run
                (br_if $new-run (i32.eqz (local.get $pending)))
                (local.set $last (i64.add (call $load64 (i64.add (local.get $table) (i64.const {pending})))
                  (i64.mul (i64.extend_i32_u (i32.sub (local.get $pending) (i32.const 1))) (i64.const {run_size}))))
                (local.set $run (call $load32 (i64.add (local.get $last) (i64.const {run_reads}))))
                (local.set $gap (i32.sub (local.get $offset) (call $load32 (i64.add (local.get $last) (i64.const {run_offset})))))
                (br_if $new-run (i32.or
                  (i32.or
                    (i32.ne (call $load32 (i64.add (local.get $last) (i64.const {run_series}))) (local.get $series))
                    (i32.ne (i32.add (call $load32 (i64.add (local.get $last) (i64.const {run_seq}))) (local.get $run)) (local.get $seq)))
                  (i32.ge_u (local.get $run) (i32.const {run_max}))))
                (if (i32.eq (local.get $run) (i32.const 1))
                  (then
                    ;; The second read sets the step: -1, 0 or 1.
                    (br_if $new-run (i32.gt_u (i32.add (local.get $gap) (i32.const 1)) (i32.const 2)))
                    (call $store32 (i64.add (local.get $last) (i64.const {run_step})) (local.get $gap)))
                  (else
                    (br_if $new-run (i32.ne (local.get $gap)
                      (i32.mul (call $load32 (i64.add (local.get $last) (i64.const {run_step}))) (local.get $run))))))
                (call $store32 (i64.add (local.get $last) (i64.const {run_reads})) (i32.add (local.get $run) (i32.const 1)))
                (br $logged))
              (local.set $last (i64.add (call $load64 (i64.add (local.get $table) (i64.const {pending})))
                (i64.mul (i64.extend_i32_u (local.get $pending)) (i64.const {run_size}))))
              (call $store32 (i64.add (local.get $last) (i64.const {run_seq})) (local.get $seq))
              (call $store32 (i64.add (local.get $last) (i64.const {run_series})) (local.get $series))
              (call $store32 (i64.add (local.get $last) (i64.const {run_offset})) (local.get $offset))
              (call $store32 (i64.add (local.get $last) (i64.const {run_reads})) (i32.const 1))
              (call $store32 (i64.add (local.get $last) (i64.const {run_step})) (i32.const 0))
              (call $store32 (i64.add (local.get $table) (i64.const {pending_len})) (i32.add (local.get $pending) (i32.const 1))))))

        ;; The value, or missing (NaN) before the feed's history reaches back
        ;; that far; the masked slot is inside the ring either way.
        (local.set $count (call $load64 (i64.add
          (call $load64 (i64.add (local.get $column) (i64.const {column_counts})))
          (i64.shl (i64.extend_i32_u (call $load32 (i64.add (local.get $table) (i64.const {point_slot})))) (i64.const 3)))))
        (return (select
          (f64.reinterpret_i64 (call $load64 (i64.add (local.get $values)
            (i64.shl
              (i64.and (i64.sub (i64.sub (local.get $count) (i64.const 1)) (i64.extend_i32_u (local.get $back)))
                (i64.extend_i32_u (call $load32 (i64.add (local.get $table) (i64.const {ring_mask})))))
              (i64.const 3)))))
          (f64.const nan)
          (i64.lt_u (i64.extend_i32_u (local.get $back)) (local.get $count))))
      )
      (call $host-read (local.get $series) (local.get $offset))
    )
  )

  (core func $data (canon lower (func $intrinsics "store-data-address")))
  (core func $load32 (canon lower (func $intrinsics "u32-native-load")))
  (core func $store32 (canon lower (func $intrinsics "u32-native-store")))
  (core func $load64 (canon lower (func $intrinsics "u64-native-load")))
  (core func $host-read (canon lower (func $host "read")))
  (core instance $fast-instance (instantiate $fast (with "" (instance
    (export "data" (func $data))
    (export "load32" (func $load32))
    (export "store32" (func $store32))
    (export "load64" (func $load64))
    (export "host-read" (func $host-read))
  ))))

  (alias export $host "feed-id" (type $feed-id))
  (alias export $host "series-id" (type $series-id))
  (alias export $host "feed-info" (type $feed-info))
  (func $read (param "series" $series-id) (param "offset" s32) (result f64)
    (canon lift (core func $fast-instance "read")))

  (instance $market
    (export "feed-id" (type $feed-id))
    (export "series-id" (type $series-id))
    (export "feed-info" (type $feed-info))
    (export "feeds" (func $host "feeds"))
    (export "series" (func $host "series"))
    (export "read" (func $read))
    (export "window" (func $host "window"))
    (export "read-text" (func $host "read-text"))
    (export "bar-count" (func $host "bar-count"))
    (export "updated" (func $host "updated"))
  )
  (export "{market}" (instance $market))
)
