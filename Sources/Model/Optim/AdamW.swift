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

    deinit {
        firstMoment.deallocate()
        secondMoment.deallocate()
    }

    /// One update with learning rate `lr` of every parameter in `range` from its gradient.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func update(_ parameters: ParameterStore<T>, learningRate lr: Double) {
        step += 1
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
        let p = parameters.values.baseAddress! + range.lowerBound
        let g = parameters.gradients.baseAddress! + range.lowerBound
        let m = firstMoment.baseAddress!, v = secondMoment.baseAddress!
        Parallel.forRanges(range.count, grain: 1 << 15) { r in
            for i in r {
                let gi = g[i]
                let mi = b1 * m[i] + (1 - b1) * gi
                let vi = b2 * v[i] + (1 - b2) * gi * gi
                m[i] = mi
                v[i] = vi
                p[i] -= stepSize * mi / (vi.squareRoot() * invSqrtCorrection2 + eps)
            }
        }
    }

    /// Optimizer state for checkpoints: (first moment, second moment, step).
    public func state() -> (first: [T], second: [T], step: Int) {
        (Array(firstMoment), Array(secondMoment), step)
    }

    public func restore(first: [T], second: [T], step: Int) {
        precondition(first.count == range.count && second.count == range.count)
        _ = firstMoment.update(fromContentsOf: first)
        _ = secondMoment.update(fromContentsOf: second)
        self.step = step
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

/// Global L2 norm of gradients[range], summed in Double over fixed blocks in order so the
/// result does not depend on the thread count.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func gradientNorm<T: ModelScalar>(_ parameters: ParameterStore<T>, range: Range<Int>) -> Double {
    let g = parameters.gradients.baseAddress! + range.lowerBound
    let block = 1 << 16
    let blocks = (range.count + block - 1) / block
    let partial = UnsafeMutableBufferPointer<Double>.allocate(capacity: max(blocks, 1))
    defer { partial.deallocate() }
    Parallel.forRanges(blocks, grain: 1) { bs in
        for b in bs {
            var s: T = 0
            let end = min(range.count, (b + 1) * block)
            for i in (b * block)..<end { s += g[i] * g[i] }
            partial[b] = Double(s)
        }
    }
    var total = 0.0
    for b in 0..<blocks { total += partial[b] }
    return total.squareRoot()
}

/// Scales gradients[range] so their global norm is at most maxNorm (torch.nn.utils
/// clip_grad_norm_: factor maxNorm/(norm + 1e-6) when below 1). Returns the norm before clipping.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
@discardableResult
public func clipGradients<T: ModelScalar>(_ parameters: ParameterStore<T>, range: Range<Int>, maxNorm: Double) -> Double {
    let norm = gradientNorm(parameters, range: range)
    let factor = maxNorm / (norm + 1e-6)
    if factor < 1 {
        let g = parameters.gradients.baseAddress! + range.lowerBound
        let f = T(factor)
        Parallel.forRanges(range.count, grain: 1 << 15) { r in for i in r { g[i] *= f } }
    }
    return norm
}
