/// Low-rank adaptation (Hu et al. 2021) of the attention projections:
/// W' = W + s·B·A with A (r, in), B (out, r), s = alpha / r. A starts random (Kaiming-uniform,
/// bound 1/√in, as PEFT), B starts at zero, so training starts from the pretrained function.
public struct LoRAConfig: Codable, Sendable, Equatable {
    public var rank: Int
    public var alpha: Double
    public var targets: [LoRATarget]

    public init(rank: Int = 8, alpha: Double = 8, targets: [LoRATarget] = [.query, .value]) {
        self.rank = rank
        self.alpha = alpha
        self.targets = targets
    }

    public var scaling: Double { alpha / Double(rank) }
}

/// Projections LoRA can adapt: parts of the fused query/key/value projection.
public enum LoRATarget: String, Codable, Sendable, CaseIterable {
    case query, key, value
    /// Column block inside the fused (3H) projection output.
    var block: Int { self == .query ? 0 : self == .key ? 1 : 2 }
}

/// out[:, block] += s·(x·Aᵀ)·Bᵀ.  x (n, inDim); A (r, inDim); B (outDim, r); tmp (n, r) saved
/// for backward; out has row stride ldo.
func loraForward<T: ModelScalar>(out: UnsafeMutablePointer<T>, ldo: Int, tmp: UnsafeMutablePointer<T>,
                                 x: UnsafePointer<T>, a: UnsafePointer<T>, b: UnsafePointer<T>,
                                 n: Int, inDim: Int, outDim: Int, rank: Int, scaling: T) {
    parallelGemm(.none, .transpose, m: n, n: rank, k: inDim, alpha: 1, a: x, lda: inDim, b: a, ldb: inDim,
           beta: 0, c: tmp, ldc: rank)
    parallelGemm(.none, .transpose, m: n, n: outDim, k: rank, alpha: scaling, a: tmp, lda: rank, b: b, ldb: rank,
           beta: 1, c: out, ldc: ldo)
}

/// Backward of loraForward. ACCUMULATES dA, dB and dx (nil when not needed).
///   dB += s·dyᵀ·tmp;  dtmp = s·dy·B;  dA += dtmpᵀ·x;  dx += dtmp·A.
func loraBackward<T: ModelScalar>(da: UnsafeMutablePointer<T>, db: UnsafeMutablePointer<T>,
                                  dx: UnsafeMutablePointer<T>?, dtmp: UnsafeMutablePointer<T>,
                                  dy: UnsafePointer<T>, ldy: Int, tmp: UnsafePointer<T>,
                                  x: UnsafePointer<T>, a: UnsafePointer<T>, b: UnsafePointer<T>,
                                  n: Int, inDim: Int, outDim: Int, rank: Int, scaling: T) {
    parallelGemm(.transpose, .none, m: outDim, n: rank, k: n, alpha: scaling, a: dy, lda: ldy, b: tmp, ldb: rank,
           beta: 1, c: db, ldc: rank)
    parallelGemm(.none, .none, m: n, n: rank, k: outDim, alpha: scaling, a: dy, lda: ldy, b: b, ldb: rank,
           beta: 0, c: dtmp, ldc: rank)
    parallelGemm(.transpose, .none, m: rank, n: inDim, k: n, alpha: 1, a: dtmp, lda: rank, b: x, ldb: inDim,
           beta: 1, c: da, ldc: inDim)
    if let dx {
        parallelGemm(.none, .none, m: n, n: inDim, k: rank, alpha: 1, a: dtmp, lda: rank, b: a, ldb: inDim,
               beta: 1, c: dx, ldc: inDim)
    }
}

extension SequenceClassifier {
    /// The same function without adapters: a copy whose adapted projections absorb s·B·A
    /// (W ← W + s·B·A), with every other tensor and the head copied.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func mergedLoRA() -> SequenceClassifier<T> {
        let merged = SequenceClassifier<T>(config: config, classes: classes, lora: nil)
        for e in merged.parameters.entries {
            let source = parameters.entry(e.name)!
            (merged.parameters.values.baseAddress! + e.offset).update(from: value(source.offset), count: e.count)
        }
        guard let lora else { return merged }
        let H = config.hidden
        for (l, o) in layerOffsets.enumerated() {
            for (i, target) in lora.targets.enumerated() {
                // Rows of the target inside the fused (3H, H) projection.
                let w = merged.value(merged.layerOffsets[l].qkvWeight) + target.block * H * H
                T.gemm(.none, .none, m: H, n: H, k: lora.rank, alpha: T(lora.scaling), a: value(o.loraB[i]), lda: lora.rank,
                       b: value(o.loraA[i]), ldb: H, beta: 1, c: w, ldc: H)
            }
        }
        return merged
    }
}
