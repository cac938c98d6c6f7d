import Foundation

/// Branch-free single-precision exp and erf, written so the loop vectorizer can turn
/// elementwise loops (softmax, GELU) into SIMD code; libm's expf/erff are scalar calls.
public enum FastMath {
    /// e^x with ~1–2 ulp error (Cephes expf: range reduction by ln 2, degree-6 polynomial);
    /// exactly 0 below −87.3 so masked attention scores vanish as with IEEE exp.
    @inline(__always)
    public static func exp(_ x: Float) -> Float {
        let clamped = Swift.min(Swift.max(x, -87.3), 88.7)
        // Round to nearest even by adding and removing 1.5·2²³ (|x·log₂e| < 2²²): plain adds the
        // vectorizer keeps in SIMD registers, where `.rounded()` became a call to rintf per element.
        let n = (clamped * 1.442_695_04 + 12_582_912) - 12_582_912
        // Cody–Waite split of ln 2 keeps r exact enough.
        var r = clamped - n * 0.693_359_375
        r = r + n * 2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_907e-3
        p = p * r + 4.166_579_589e-2
        p = p * r + 1.666_666_546e-1
        p = p * r + 5.000_000_12e-1
        let er = p * r * r + r + 1
        let scale = Float(bitPattern: UInt32(bitPattern: Int32(n) &+ 127) << 23)
        return x < -87.3 ? 0 : er * scale
    }

    /// erf(x) by the rational approximation used in Eigen/XLA for float (max abs error 4e-7):
    /// x·P(x²)/Q(x²) on x clamped to [−4, 4] (erf is ±1 in float beyond that).
    @inline(__always)
    public static func erf(_ x: Float) -> Float {
        let c = Swift.min(Swift.max(x, -4), 4)
        let x2 = c * c
        var p: Float = -2.726_142_258_013_06e-10
        p = p * x2 + 2.770_681_424_959_02e-08
        p = p * x2 + -2.101_024_020_825_08e-06
        p = p * x2 + -5.692_506_394_623_46e-05
        p = p * x2 + -7.349_906_303_268_55e-04
        p = p * x2 + -2.954_599_808_540_25e-03
        p = p * x2 + -1.609_603_332_624_15e-02
        p = p * c
        var q: Float = -1.456_607_184_649_96e-05
        q = q * x2 + -2.133_740_552_789_05e-04
        q = q * x2 + -1.682_826_974_382_03e-03
        q = q * x2 + -7.373_329_167_204_68e-03
        q = q * x2 + -1.426_473_905_141_89e-02
        return p / q
    }

    // MARK: Row reductions in SIMD registers
    // Sixteen running partial sums (or maxima) instead of one: a serial float sum waits on each
    // add and cannot be vectorized without reordering. The order is fixed by the row length
    // alone, so results do not depend on threads or batch position.

    /// Σ x[i], i < count.
    @inline(__always)
    public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var acc = SIMD16<Float>(), i = 0
        while i + 16 <= count { acc += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self); i += 16 }
        var total = acc.sum()
        while i < count { total += x[i]; i += 1 }
        return total
    }

    /// Σ (x[i] − center)², i < count.
    @inline(__always)
    public static func squaredDeviationSum(_ x: UnsafePointer<Float>, count: Int, center: Float) -> Float {
        var acc = SIMD16<Float>(), i = 0
        let c = SIMD16<Float>(repeating: center)
        while i + 16 <= count {
            let d = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) - c
            acc += d * d; i += 16
        }
        var total = acc.sum()
        while i < count { let d = x[i] - center; total += d * d; i += 1 }
        return total
    }

    /// Σ x[i]·y[i], i < count.
    @inline(__always)
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
        var acc = SIMD16<Float>(), i = 0
        while i + 16 <= count {
            acc += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
                * UnsafeRawPointer(y + i).loadUnaligned(as: SIMD16<Float>.self)
            i += 16
        }
        var total = acc.sum()
        while i < count { total += x[i] * y[i]; i += 1 }
        return total
    }

    /// max x[i], i < count (count ≥ 1).
    @inline(__always)
    public static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var total = x[0], i = 0
        if count >= 16 {
            var acc = UnsafeRawPointer(x).loadUnaligned(as: SIMD16<Float>.self)
            i = 16
            while i + 16 <= count {
                // A compare and a blend (pointwiseMax compiles to a scalar loop through memory).
                let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
                acc.replace(with: v, where: v .> acc)
                i += 16
            }
            total = acc.max()
        }
        while i < count { total = Swift.max(total, x[i]); i += 1 }
        return total
    }

    /// tanh(x) through exp; used by GPT-2's tanh-approximated GELU.
    @inline(__always)
    public static func tanh(_ x: Float) -> Float {
        if Swift.abs(x) < 0.004 { return x * (1 - x * x / 3) }
        let e = exp(2 * Swift.min(Swift.max(x, -9), 9))
        return (e - 1) / (e + 1)
    }
}
