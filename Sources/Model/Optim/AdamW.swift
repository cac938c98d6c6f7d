import Foundation

/// AdamW as torch.optim.AdamW (decoupled weight decay, bias correction), one loop over a
/// contiguous range of the parameter arena.
public final class AdamW<T: ModelScalar> {
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var epsilon: Double = 1e-8
    public var weightDecay: Double
    /// Arena range being optimised (a contiguous suffix: backbone+head, LoRA+head or head).
    public let range: Range<Int>
    /// Parts of `range` that receive weight decay (Hugging Face Trainer skips biases and
    /// LayerNorm weights); empty when weightDecay is 0.
    public let decayRanges: [Range<Int>]
    public private(set) var step = 0
    /// The rows of a table whose rows only get gradient when their token is in a batch (word
    /// embeddings) that any step has touched. A row whose moments are still zero and whose
    /// gradient is zero would get an update of exactly zero, so rows never touched are skipped —
    /// exact, and it halves the optimizer's memory traffic. Rows stay active once touched.
    private var active: TouchedRows?
    /// Per row of the sparse table: 1 once any step gave it a gradient (empty without one).
    public var activeRows: [UInt8] { active?.flags ?? [] }
    let firstMoment: UnsafeMutableBufferPointer<T>
    let secondMoment: UnsafeMutableBufferPointer<T>

    public init(parameters: ParameterStore<T>, range: Range<Int>, weightDecay: Double = 0) {
        self.range = range
        self.weightDecay = weightDecay
        decayRanges = parameters.entries.filter { e in
            e.range.overlaps(range) && !e.name.hasSuffix(".bias") && !e.name.contains("LayerNorm") && !e.name.contains("ln_")
        }.map { $0.range.clamped(to: range) }
        firstMoment = .allocate(capacity: max(range.count, 1))
        firstMoment.initialize(repeating: 0)
        secondMoment = .allocate(capacity: max(range.count, 1))
        secondMoment.initialize(repeating: 0)
    }

    /// Enables row skipping for `table` (must lie inside `range`; no weight decay on it, else
    /// untouched rows would still decay).
    public func setSparseTable(range table: Range<Int>, rowLength: Int) {
        precondition(table.clamped(to: range) == table && table.count % rowLength == 0)
        guard weightDecay == 0 || !decayRanges.contains(where: { $0.overlaps(table) }) else { return }
        active = TouchedRows(table: table, rowLength: rowLength)
    }

    deinit {
        firstMoment.deallocate()
        secondMoment.deallocate()
    }

    /// One update with learning rate `lr` of every parameter in `range` from its gradient times
    /// `gradientScale` (gradient clipping's factor, `clippingFactor`: the product g·scale is what a
    /// separate scaling pass would have stored, so the update is the same to the bit, one pass over
    /// the gradients fewer). `touchedRows`: the rows of the sparse table this step's gradient
    /// touched (nil: all rows).
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func update(_ parameters: ParameterStore<T>, learningRate lr: Double, gradientScale: Double = 1,
                       touchedRows: TouchedRows? = nil) {
        step += 1
        let scale = T(gradientScale)
        let b1 = T(beta1), b2 = T(beta2)
        let correction1 = 1 - Foundation.pow(beta1, Double(step))
        let correction2 = 1 - Foundation.pow(beta2, Double(step))
        let stepSize = T(lr / correction1)
        let invSqrtCorrection2 = T(1 / correction2.squareRoot())
        let eps = T(epsilon)
        // Decoupled weight decay first (torch: p ← p·(1 − lr·wd)), on the decayed parts only.
        if weightDecay > 0 {
            let factor = T(1 - lr * weightDecay)
            for r in decayRanges {
                let p = parameters.values.baseAddress!
                Parallel.forRanges(r.count, grain: 1 << 15) { sub in
                    for i in sub { p[r.lowerBound + i] *= factor }
                }
            }
        }
        var dense = [range]
        if let active, let touchedRows {
            active.formUnion(touchedRows)
            dense = active.gradientRanges(within: range)
        }
        for part in dense where !part.isEmpty {
            let offset = part.lowerBound - range.lowerBound
            let p = parameters.values.baseAddress! + part.lowerBound
            let g = parameters.gradients.baseAddress! + part.lowerBound
            let m = firstMoment.baseAddress! + offset, v = secondMoment.baseAddress! + offset
            Parallel.forRanges(part.count, grain: 1 << 15) { r in
                var i = r.lowerBound
                if T.self == Float.self {
                    // 8 lanes at a time, the same operations in the same order as the scalar
                    // loop below (bit-identical); the compiler does not vectorize that loop itself
                    // (the four arrays may alias, as far as it knows).
                    i = adamWLanes(p: p, g: g, m: m, v: v, range: r, Float(scale),
                                   Float(b1), Float(b2), Float(stepSize), Float(invSqrtCorrection2), Float(eps))
                }
                while i < r.upperBound {
                    let gi = g[i] * scale
                    let mi = b1 * m[i] + (1 - b1) * gi
                    let vi = b2 * v[i] + (1 - b2) * gi * gi
                    m[i] = mi
                    v[i] = vi
                    p[i] -= stepSize * mi / (vi.squareRoot() * invSqrtCorrection2 + eps)
                    i += 1
                }
            }
        }
    }

    /// The Float update on whole groups of 8 in `range`; returns where the scalar tail starts.
    @inline(__always)
    private func adamWLanes(p: UnsafeMutablePointer<T>, g: UnsafeMutablePointer<T>, m: UnsafeMutablePointer<T>,
                            v: UnsafeMutablePointer<T>, range: Range<Int>, _ scale: Float,
                            _ b1: Float, _ b2: Float, _ stepSize: Float, _ invSqrtCorrection2: Float, _ eps: Float) -> Int {
        let p = UnsafeMutableRawPointer(p), g = UnsafeRawPointer(g)
        let m = UnsafeMutableRawPointer(m), v = UnsafeMutableRawPointer(v)
        let oneMinusB1 = SIMD8<Float>(repeating: 1 - b1), oneMinusB2 = SIMD8<Float>(repeating: 1 - b2)
        let b1v = SIMD8<Float>(repeating: b1), b2v = SIMD8<Float>(repeating: b2)
        let stepV = SIMD8<Float>(repeating: stepSize), corrV = SIMD8<Float>(repeating: invSqrtCorrection2)
        let epsV = SIMD8<Float>(repeating: eps), scaleV = SIMD8<Float>(repeating: scale)
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let byte = i * 4
            let gi = g.loadUnaligned(fromByteOffset: byte, as: SIMD8<Float>.self) * scaleV
            let mi = b1v * m.loadUnaligned(fromByteOffset: byte, as: SIMD8<Float>.self) + oneMinusB1 * gi
            let vi = b2v * v.loadUnaligned(fromByteOffset: byte, as: SIMD8<Float>.self) + oneMinusB2 * gi * gi
            m.storeBytes(of: mi, toByteOffset: byte, as: SIMD8<Float>.self)
            v.storeBytes(of: vi, toByteOffset: byte, as: SIMD8<Float>.self)
            let pi = p.loadUnaligned(fromByteOffset: byte, as: SIMD8<Float>.self)
            p.storeBytes(of: pi - stepV * mi / (vi.squareRoot() * corrV + epsV), toByteOffset: byte, as: SIMD8<Float>.self)
            i += 8
        }
        return i
    }

    /// Optimizer state for checkpoints: (first moment, second moment, step, active rows).
    public func state() -> (first: [T], second: [T], step: Int, activeRows: [UInt8]) {
        (Array(firstMoment), Array(secondMoment), step, activeRows)
    }

    public func restore(first: [T], second: [T], step: Int, activeRows: [UInt8]) {
        precondition(first.count == range.count && second.count == range.count && activeRows.count == self.activeRows.count)
        _ = firstMoment.update(fromContentsOf: first)
        _ = secondMoment.update(fromContentsOf: second)
        self.step = step
        active?.restore(activeRows)
    }
}

/// Linear warm-up then linear decay to zero, as transformers' get_linear_schedule_with_warmup:
/// the multiplier at optimizer step s (0-based) is s/warmup during warm-up, then
/// (total − s)/(total − warmup).
public struct LinearSchedule: Sendable {
    public var baseRate: Double
    public var totalSteps: Int
    public var warmupSteps: Int

    public init(baseRate: Double, totalSteps: Int, warmupSteps: Int) {
        self.baseRate = baseRate
        self.totalSteps = totalSteps
        self.warmupSteps = warmupSteps
    }

    public func rate(atStep s: Int) -> Double {
        if s < warmupSteps { return baseRate * Double(s) / Double(max(1, warmupSteps)) }
        return baseRate * max(0, Double(totalSteps - s) / Double(max(1, totalSteps - warmupSteps)))
    }
}

/// Global L2 norm of the gradients in `ranges` (the rest is known to be zero), summed in Double
/// over fixed blocks in order so the result does not depend on the thread count.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func gradientNorm<T: ModelScalar>(_ parameters: ParameterStore<T>, ranges: [Range<Int>]) -> Double {
    let block = 1 << 16
    var total = 0.0
    for range in ranges {
        let g = parameters.gradients.baseAddress! + range.lowerBound
        let blocks = (range.count + block - 1) / block
        var partial = [Double](repeating: 0, count: blocks)
        partial.withUnsafeMutableBufferPointer { partial in
            Parallel.forRanges(blocks, grain: 1) { bs in
                for b in bs {
                    let end = min(range.count, (b + 1) * block)
                    partial[b] = Double(sumOfSquares(g + b * block, count: end - b * block))
                }
            }
        }
        for p in partial { total += p }
    }
    return total.squareRoot()
}

/// Σ x² over `count` values: 8 running sums (lane j takes elements j, j + 8, …; fixed, so the
/// result is deterministic), then ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) and the tail.
/// The Float lanes are one SIMD8 register: written as eight scalars, the compiler shuffled every
/// vector of squares apart into four registers (the norm took 4 % of an 8 × 32 step).
@inline(__always)
func sumOfSquares<T: ModelScalar>(_ x: UnsafePointer<T>, count: Int) -> T {
    var i = 0
    var s: T
    if T.self == Float.self {
        let raw = UnsafeRawPointer(x)
        var lanes = SIMD8<Float>()
        while i + 8 <= count {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            lanes += v * v
            i += 8
        }
        let low = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
        let high = (lanes[4] + lanes[5]) + (lanes[6] + lanes[7])
        s = T(low + high)
    } else {
        var lanes = (T(0), T(0), T(0), T(0), T(0), T(0), T(0), T(0))
        while i + 8 <= count {
            lanes.0 += x[i] * x[i]; lanes.1 += x[i + 1] * x[i + 1]
            lanes.2 += x[i + 2] * x[i + 2]; lanes.3 += x[i + 3] * x[i + 3]
            lanes.4 += x[i + 4] * x[i + 4]; lanes.5 += x[i + 5] * x[i + 5]
            lanes.6 += x[i + 6] * x[i + 6]; lanes.7 += x[i + 7] * x[i + 7]
            i += 8
        }
        s = ((lanes.0 + lanes.1) + (lanes.2 + lanes.3)) + ((lanes.4 + lanes.5) + (lanes.6 + lanes.7))
    }
    while i < count { s += x[i] * x[i]; i += 1 }
    return s
}

/// The factor torch.nn.utils.clip_grad_norm_ multiplies the gradients by when their global norm
/// is `norm`: maxNorm/(norm + 1e-6) when that is below 1, else 1 (no change). AdamW.update
/// applies it as it reads each gradient.
public func clippingFactor(norm: Double, maxNorm: Double) -> Double {
    let factor = maxNorm / (norm + 1e-6)
    return factor < 1 ? factor : 1
}
