;; The fused row kernel of `stats/row_kernel.ts`: per contiguous run ("row") of `width` float32
;; values, its sum and sum of squared deviations from its mean (float64, two passes over the row
;; while it is in cache), min, max, exact-zero and non-finite counts, and every value counted into
;; the fixed-edge histogram of `stats/dataset_statistics.ts` (`histBin`), in one call.
;;
;; Rebuild the embedded bytes (`stats/_row_kernel_wasm.ts`) with `deno task wasm` after an edit.
;;
;; rows(data, rows, width, out, hist):
;;   data  byte offset of rows * width float32 values
;;   out   byte offset of 6 float64 arrays of `rows` values each: sum, m2, min, max, zeros,
;;         nonfinite. A row holding a NaN or +-Inf has only its nonfinite count right: the caller
;;         redoes that row (the CPU reference, `stats/moments.ts` `reduceRows`).
;;   hist  byte offset of 4 count tables of 192 uint32 each, taken in turn by the four lanes (so
;;         that a run of equal bins does not wait on its own increments); slot 181 counts the
;;         non-finite values, which have no bin.
;;
;; Bins (`histBin`): +-0 -> 90; else h = 2 * (exponent - 127) + (mantissa >= 0x3504f3),
;; k = clamp(h + 41, 0, 89) + 1, bin = 90 + k for x > 0 and 90 - k for x < 0.
(module
  (memory (export "memory") 1)
  (func (export "rows")
    (param $data i32) (param $rows i32) (param $width i32) (param $out i32) (param $hist i32)
    (local $r i32) (local $p i32) (local $end i32) (local $end4 i32) (local $a i32)
    (local $v v128) (local $bin v128) (local $offs v128)
    (local $s0 v128) (local $s1 v128) (local $mn v128) (local $mx v128)
    (local $zc v128) (local $nfc v128) (local $mean v128)
    (local $d v128) (local $b v128) (local $nf v128)
    (local $sum f64) (local $m2 f64) (local $fmin f32) (local $fmax f32)
    (local $zeros i32) (local $bad i32) (local $x f32) (local $bits i32) (local $sb i32)
    (local $k i32) (local $dm f64)
    ;; Lane t's table: hist + 768 t.
    (local.set $offs
      (i32x4.add (i32x4.splat (local.get $hist)) (v128.const i32x4 0 768 1536 2304)))
    (block $rows_done
      (loop $row
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $p
          (i32.add (local.get $data)
            (i32.shl (i32.mul (local.get $r) (local.get $width)) (i32.const 2))))
        (local.set $end (i32.add (local.get $p) (i32.shl (local.get $width) (i32.const 2))))
        (local.set $end4
          (i32.add (local.get $p)
            (i32.shl (i32.and (local.get $width) (i32.const -4)) (i32.const 2))))
        (local.set $s0 (v128.const f64x2 0 0))
        (local.set $s1 (v128.const f64x2 0 0))
        (local.set $mn (v128.const f32x4 inf inf inf inf))
        (local.set $mx (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $zc (v128.const i32x4 0 0 0 0))
        (local.set $nfc (v128.const i32x4 0 0 0 0))
        ;; Pass 1, four values at a time: sums, extremes, counts, histogram.
        (block $simd_done
          (loop $simd
            (br_if $simd_done (i32.ge_u (local.get $p) (local.get $end4)))
            (local.set $v (v128.load (local.get $p)))
            (local.set $s0 (f64x2.add (local.get $s0) (f64x2.promote_low_f32x4 (local.get $v))))
            (local.set $s1
              (f64x2.add (local.get $s1)
                (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                    (local.get $v) (local.get $v)))))
            (local.set $mn (f32x4.min (local.get $mn) (local.get $v)))
            (local.set $mx (f32x4.max (local.get $mx) (local.get $v)))
            (local.set $zc
              (i32x4.sub (local.get $zc) (f32x4.eq (local.get $v) (v128.const f32x4 0 0 0 0))))
            ;; exponent e, non-finite lanes (e = 255)
            (local.set $b
              (v128.and (i32x4.shr_u (local.get $v) (i32.const 23)) (v128.const i32x4 255 255 255 255)))
            (local.set $nf (i32x4.eq (local.get $b) (v128.const i32x4 255 255 255 255)))
            (local.set $nfc (i32x4.sub (local.get $nfc) (local.get $nf)))
            ;; k + 1 = clamp(2e - 254 + [m >= 0x3504f3] + 41, 0, 89) + 1, 0 for +-0
            (local.set $bin
              (i32x4.add
                (i32x4.max_s
                  (i32x4.min_s
                    (i32x4.sub
                      (i32x4.sub (i32x4.shl (local.get $b) (i32.const 1))
                        (v128.const i32x4 213 213 213 213))
                      (i32x4.ge_s
                        (v128.and (local.get $v)
                          (v128.const i32x4 0x7fffff 0x7fffff 0x7fffff 0x7fffff))
                        (v128.const i32x4 0x3504f3 0x3504f3 0x3504f3 0x3504f3)))
                    (v128.const i32x4 89 89 89 89))
                  (v128.const i32x4 0 0 0 0))
                (v128.const i32x4 1 1 1 1)))
            (local.set $bin
              (v128.andnot (local.get $bin)
                (i32x4.eq
                  (v128.and (local.get $v)
                    (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
                  (v128.const i32x4 0 0 0 0))))
            ;; sign: 90 - (k + 1) for negatives, 90 + (k + 1) otherwise; 181 when non-finite
            (local.set $b (i32x4.shr_s (local.get $v) (i32.const 31)))
            (local.set $bin
              (i32x4.add (v128.const i32x4 90 90 90 90)
                (i32x4.sub (v128.xor (local.get $bin) (local.get $b)) (local.get $b))))
            (local.set $bin
              (v128.bitselect (v128.const i32x4 181 181 181 181) (local.get $bin) (local.get $nf)))
            (local.set $bin
              (i32x4.add (i32x4.shl (local.get $bin) (i32.const 2)) (local.get $offs)))
            (local.set $a (i32x4.extract_lane 0 (local.get $bin)))
            (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
            (local.set $a (i32x4.extract_lane 1 (local.get $bin)))
            (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
            (local.set $a (i32x4.extract_lane 2 (local.get $bin)))
            (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
            (local.set $a (i32x4.extract_lane 3 (local.get $bin)))
            (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (br $simd)))
        ;; Fold the lanes.
        (local.set $s0 (f64x2.add (local.get $s0) (local.get $s1)))
        (local.set $sum
          (f64.add (f64x2.extract_lane 0 (local.get $s0)) (f64x2.extract_lane 1 (local.get $s0))))
        (local.set $fmin
          (f32.min
            (f32.min (f32x4.extract_lane 0 (local.get $mn)) (f32x4.extract_lane 1 (local.get $mn)))
            (f32.min (f32x4.extract_lane 2 (local.get $mn)) (f32x4.extract_lane 3 (local.get $mn)))))
        (local.set $fmax
          (f32.max
            (f32.max (f32x4.extract_lane 0 (local.get $mx)) (f32x4.extract_lane 1 (local.get $mx)))
            (f32.max (f32x4.extract_lane 2 (local.get $mx)) (f32x4.extract_lane 3 (local.get $mx)))))
        (local.set $zeros
          (i32.add
            (i32.add (i32x4.extract_lane 0 (local.get $zc)) (i32x4.extract_lane 1 (local.get $zc)))
            (i32.add (i32x4.extract_lane 2 (local.get $zc)) (i32x4.extract_lane 3 (local.get $zc)))))
        (local.set $bad
          (i32.add
            (i32.add (i32x4.extract_lane 0 (local.get $nfc)) (i32x4.extract_lane 1 (local.get $nfc)))
            (i32.add (i32x4.extract_lane 2 (local.get $nfc)) (i32x4.extract_lane 3 (local.get $nfc)))))
        ;; The tail, one value at a time (the same steps).
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $x (f32.load (local.get $p)))
            (local.set $bits (i32.reinterpret_f32 (local.get $x)))
            (local.set $sum (f64.add (local.get $sum) (f64.promote_f32 (local.get $x))))
            (local.set $fmin (f32.min (local.get $fmin) (local.get $x)))
            (local.set $fmax (f32.max (local.get $fmax) (local.get $x)))
            (if (f32.eq (local.get $x) (f32.const 0))
              (then (local.set $zeros (i32.add (local.get $zeros) (i32.const 1)))))
            (local.set $sb (i32.and (i32.shr_u (local.get $bits) (i32.const 23)) (i32.const 255)))
            (if (i32.eq (local.get $sb) (i32.const 255))
              (then
                (local.set $bad (i32.add (local.get $bad) (i32.const 1)))
                (local.set $k (i32.const 181)))
              (else
                (if (i32.eqz (i32.and (local.get $bits) (i32.const 0x7fffffff)))
                  (then (local.set $k (i32.const 90)))
                  (else
                    (local.set $k
                      (i32.add
                        (i32.sub (i32.shl (local.get $sb) (i32.const 1)) (i32.const 213))
                        (i32.ge_s (i32.and (local.get $bits) (i32.const 0x7fffff))
                          (i32.const 0x3504f3))))
                    (if (i32.lt_s (local.get $k) (i32.const 0)) (then (local.set $k (i32.const 0))))
                    (if (i32.gt_s (local.get $k) (i32.const 89)) (then (local.set $k (i32.const 89))))
                    (local.set $k
                      (select
                        (i32.sub (i32.const 89) (local.get $k))
                        (i32.add (i32.const 91) (local.get $k))
                        (i32.lt_s (local.get $bits) (i32.const 0))))))))
            (local.set $a (i32.add (local.get $hist) (i32.shl (local.get $k) (i32.const 2))))
            (i32.store (local.get $a) (i32.add (i32.load (local.get $a)) (i32.const 1)))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (br $tail)))
        ;; Pass 2: squared deviations from the mean (finite rows only).
        (local.set $m2 (f64.const 0))
        (if (i32.eqz (local.get $bad))
          (then
            (local.set $dm (f64.div (local.get $sum) (f64.convert_i32_u (local.get $width))))
            (local.set $mean (f64x2.splat (local.get $dm)))
            (local.set $p
              (i32.add (local.get $data)
                (i32.shl (i32.mul (local.get $r) (local.get $width)) (i32.const 2))))
            (local.set $s0 (v128.const f64x2 0 0))
            (local.set $s1 (v128.const f64x2 0 0))
            (block $m2_done
              (loop $m2
                (br_if $m2_done (i32.ge_u (local.get $p) (local.get $end4)))
                (local.set $v (v128.load (local.get $p)))
                (local.set $d (f64x2.sub (f64x2.promote_low_f32x4 (local.get $v)) (local.get $mean)))
                (local.set $s0 (f64x2.add (local.get $s0) (f64x2.mul (local.get $d) (local.get $d))))
                (local.set $d
                  (f64x2.sub
                    (f64x2.promote_low_f32x4
                      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                        (local.get $v) (local.get $v)))
                    (local.get $mean)))
                (local.set $s1 (f64x2.add (local.get $s1) (f64x2.mul (local.get $d) (local.get $d))))
                (local.set $p (i32.add (local.get $p) (i32.const 16)))
                (br $m2)))
            (local.set $s0 (f64x2.add (local.get $s0) (local.get $s1)))
            (local.set $m2
              (f64.add (f64x2.extract_lane 0 (local.get $s0)) (f64x2.extract_lane 1 (local.get $s0))))
            (block $m2t_done
              (loop $m2t
                (br_if $m2t_done (i32.ge_u (local.get $p) (local.get $end)))
                (local.set $dm
                  (f64.sub (f64.promote_f32 (f32.load (local.get $p)))
                    (f64.div (local.get $sum) (f64.convert_i32_u (local.get $width)))))
                (local.set $m2 (f64.add (local.get $m2) (f64.mul (local.get $dm) (local.get $dm))))
                (local.set $p (i32.add (local.get $p) (i32.const 4)))
                (br $m2t)))))
        ;; Store the row.
        (local.set $a (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 3))))
        (f64.store (local.get $a) (local.get $sum))
        (local.set $a (i32.add (local.get $a) (i32.shl (local.get $rows) (i32.const 3))))
        (f64.store (local.get $a) (local.get $m2))
        (local.set $a (i32.add (local.get $a) (i32.shl (local.get $rows) (i32.const 3))))
        (f64.store (local.get $a) (f64.promote_f32 (local.get $fmin)))
        (local.set $a (i32.add (local.get $a) (i32.shl (local.get $rows) (i32.const 3))))
        (f64.store (local.get $a) (f64.promote_f32 (local.get $fmax)))
        (local.set $a (i32.add (local.get $a) (i32.shl (local.get $rows) (i32.const 3))))
        (f64.store (local.get $a) (f64.convert_i32_u (local.get $zeros)))
        (local.set $a (i32.add (local.get $a) (i32.shl (local.get $rows) (i32.const 3))))
        (f64.store (local.get $a) (f64.convert_i32_u (local.get $bad)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $row))))
  ;; pos_rows(data, rows, width, out): the same six accumulators of max(x, 0) (a ReLU of the
  ;; values), without the histogram, which the caller derives from the values' own. Only for
  ;; rows without NaN/Inf (the caller checks the values' nonfinite counts first).
  (func (export "pos_rows")
    (param $data i32) (param $rows i32) (param $width i32) (param $out i32)
    (local $r i32) (local $p i32) (local $end i32) (local $end4 i32) (local $a i32)
    (local $v v128) (local $s0 v128) (local $s1 v128) (local $mn v128) (local $mx v128)
    (local $zc v128) (local $mean v128) (local $d v128)
    (local $sum f64) (local $m2 f64) (local $fmin f32) (local $fmax f32)
    (local $zeros i32) (local $x f32) (local $dm f64)
    (block $rows_done
      (loop $row
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $p
          (i32.add (local.get $data)
            (i32.shl (i32.mul (local.get $r) (local.get $width)) (i32.const 2))))
        (local.set $end (i32.add (local.get $p) (i32.shl (local.get $width) (i32.const 2))))
        (local.set $end4
          (i32.add (local.get $p)
            (i32.shl (i32.and (local.get $width) (i32.const -4)) (i32.const 2))))
        (local.set $s0 (v128.const f64x2 0 0))
        (local.set $s1 (v128.const f64x2 0 0))
        (local.set $mn (v128.const f32x4 inf inf inf inf))
        (local.set $mx (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $zc (v128.const i32x4 0 0 0 0))
        (block $simd_done
          (loop $simd
            (br_if $simd_done (i32.ge_u (local.get $p) (local.get $end4)))
            (local.set $v (f32x4.max (v128.load (local.get $p)) (v128.const f32x4 0 0 0 0)))
            (local.set $s0 (f64x2.add (local.get $s0) (f64x2.promote_low_f32x4 (local.get $v))))
            (local.set $s1
              (f64x2.add (local.get $s1)
                (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                    (local.get $v) (local.get $v)))))
            (local.set $mn (f32x4.min (local.get $mn) (local.get $v)))
            (local.set $mx (f32x4.max (local.get $mx) (local.get $v)))
            (local.set $zc
              (i32x4.sub (local.get $zc) (f32x4.eq (local.get $v) (v128.const f32x4 0 0 0 0))))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (br $simd)))
        (local.set $s0 (f64x2.add (local.get $s0) (local.get $s1)))
        (local.set $sum
          (f64.add (f64x2.extract_lane 0 (local.get $s0)) (f64x2.extract_lane 1 (local.get $s0))))
        (local.set $fmin
          (f32.min
            (f32.min (f32x4.extract_lane 0 (local.get $mn)) (f32x4.extract_lane 1 (local.get $mn)))
            (f32.min (f32x4.extract_lane 2 (local.get $mn)) (f32x4.extract_lane 3 (local.get $mn)))))
        (local.set $fmax
          (f32.max
            (f32.max (f32x4.extract_lane 0 (local.get $mx)) (f32x4.extract_lane 1 (local.get $mx)))
            (f32.max (f32x4.extract_lane 2 (local.get $mx)) (f32x4.extract_lane 3 (local.get $mx)))))
        (local.set $zeros
          (i32.add
            (i32.add (i32x4.extract_lane 0 (local.get $zc)) (i32x4.extract_lane 1 (local.get $zc)))
            (i32.add (i32x4.extract_lane 2 (local.get $zc)) (i32x4.extract_lane 3 (local.get $zc)))))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $x (f32.max (f32.load (local.get $p)) (f32.const 0)))
            (local.set $sum (f64.add (local.get $sum) (f64.promote_f32 (local.get $x))))
            (local.set $fmin (f32.min (local.get $fmin) (local.get $x)))
            (local.set $fmax (f32.max (local.get $fmax) (local.get $x)))
            (if (f32.eq (local.get $x) (f32.const 0))
              (then (local.set $zeros (i32.add (local.get $zeros) (i32.const 1)))))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (br $tail)))
        ;; The squared deviations from the row's mean, while the row is in cache.
        (local.set $dm (f64.div (local.get $sum) (f64.convert_i32_u (local.get $width))))
        (local.set $mean (f64x2.splat (local.get $dm)))
        (local.set $p
          (i32.add (local.get $data)
            (i32.shl (i32.mul (local.get $r) (local.get $width)) (i32.const 2))))
        (local.set $s0 (v128.const f64x2 0 0))
        (local.set $s1 (v128.const f64x2 0 0))
        (block $m2_done
          (loop $m2
            (br_if $m2_done (i32.ge_u (local.get $p) (local.get $end4)))
            (local.set $v (f32x4.max (v128.load (local.get $p)) (v128.const f32x4 0 0 0 0)))
            (local.set $d (f64x2.sub (f64x2.promote_low_f32x4 (local.get $v)) (local.get $mean)))
            (local.set $s0 (f64x2.add (local.get $s0) (f64x2.mul (local.get $d) (local.get $d))))
            (local.set $d
              (f64x2.sub
                (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                    (local.get $v) (local.get $v)))
                (local.get $mean)))
            (local.set $s1 (f64x2.add (local.get $s1) (f64x2.mul (local.get $d) (local.get $d))))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (br $m2)))
        (local.set $s0 (f64x2.add (local.get $s0) (local.get $s1)))
        (local.set $m2
          (f64.add (f64x2.extract_lane 0 (local.get $s0)) (f64x2.extract_lane 1 (local.get $s0))))
        (block $m2t_done
          (loop $m2t
            (br_if $m2t_done (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $dm
              (f64.sub (f64.promote_f32 (f32.max (f32.load (local.get $p)) (f32.const 0)))
                (f64.div (local.get $sum) (f64.convert_i32_u (local.get $width)))))
            (local.set $m2 (f64.add (local.get $m2) (f64.mul (local.get $dm) (local.get $dm))))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (br $m2t)))
        ;; Store the row (nonfinite: 0).
        (local.set $a (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 3))))
        (f64.store (local.get $a) (local.get $sum))
        (local.set $a (i32.add (local.get $a) (i32.shl (local.get $rows) (i32.const 3))))
        (f64.store (local.get $a) (local.get $m2))
        (local.set $a (i32.add (local.get $a) (i32.shl (local.get $rows) (i32.const 3))))
        (f64.store (local.get $a) (f64.promote_f32 (local.get $fmin)))
        (local.set $a (i32.add (local.get $a) (i32.shl (local.get $rows) (i32.const 3))))
        (f64.store (local.get $a) (f64.promote_f32 (local.get $fmax)))
        (local.set $a (i32.add (local.get $a) (i32.shl (local.get $rows) (i32.const 3))))
        (f64.store (local.get $a) (f64.convert_i32_u (local.get $zeros)))
        (local.set $a (i32.add (local.get $a) (i32.shl (local.get $rows) (i32.const 3))))
        (f64.store (local.get $a) (f64.const 0))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $row)))))
