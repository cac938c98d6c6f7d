/// Activation and gradient buffers of one forward/backward, sized for a batch capacity
/// (B, T) and reused every step: no allocation in the training loop.
final class Workspace<T: ModelScalar> {
    /// Saved activations of one layer. Row counts are for the full (B·T) case; the pruned
    /// last layer uses the first B rows (qkv, probs and normed1 of GPT-2 keep all N rows).
    /// BERT/RoBERTa (post-LN): residual1 = x + attention → LayerNorm 1 → normed1;
    ///   residual2 = normed1 + FFN → LayerNorm 2 → output.
    /// GPT-2 (pre-LN): normed1 = ln_1(x); residual1 = x + attention; normed2 = ln_2(residual1);
    ///   output = residual1 + MLP (residual2 is not used).
    struct Layer {
        var qkv: UnsafeMutablePointer<T>           // (N, 3H)
        var probs: UnsafeMutablePointer<T>         // (B, heads, T, T)
        var attentionMask: UnsafeMutablePointer<UInt8>
        var context: UnsafeMutablePointer<T>       // (N, H)
        var residual1: UnsafeMutablePointer<T>     // (N, H) input of LayerNorm 1
        var mean1: UnsafeMutablePointer<T>, rstd1: UnsafeMutablePointer<T>
        var normed1: UnsafeMutablePointer<T>       // (N, H)
        var ffnPre: UnsafeMutablePointer<T>        // (N, I)
        var ffnAct: UnsafeMutablePointer<T>        // (N, I)
        var residual2: UnsafeMutablePointer<T>     // (N, H) input of LayerNorm 2 (BERT, RoBERTa)
        var normed2: UnsafeMutablePointer<T>       // (N, H) output of ln_2 (GPT-2)
        var mean2: UnsafeMutablePointer<T>, rstd2: UnsafeMutablePointer<T>
        var mask1: UnsafeMutablePointer<UInt8>, mask2: UnsafeMutablePointer<UInt8>
        var loraTmp: [UnsafeMutablePointer<T>]     // (N, r) per LoRA target
    }

    let capacityBatch: Int, capacitySeqLen: Int
    private(set) var batch = 0, seqLen = 0

    private var floatBlocks: [UnsafeMutablePointer<T>] = []
    private var byteBlocks: [UnsafeMutablePointer<UInt8>] = []

    var embeddingSum: UnsafeMutablePointer<T>, embeddingMean: UnsafeMutablePointer<T>, embeddingRstd: UnsafeMutablePointer<T>
    var embeddingMask: UnsafeMutablePointer<UInt8>
    /// hidden[0] = embedding output, hidden[l+1] = output of layer l; each (N, H).
    var hidden: [UnsafeMutablePointer<T>] = []
    /// Final token states ((N or B), H): hidden[layers] (BERT, RoBERTa), or ln_f of it (GPT-2,
    /// whose LayerNorm statistics are finalMean, finalRstd).
    var output: UnsafeMutablePointer<T>
    var finalMean: UnsafeMutablePointer<T>, finalRstd: UnsafeMutablePointer<T>
    var layers: [Layer] = []
    var features: UnsafeMutablePointer<T>, featuresDropped: UnsafeMutablePointer<T>, featureMask: UnsafeMutablePointer<UInt8>
    var logits: UnsafeMutablePointer<T>, logitGradient: UnsafeMutablePointer<T>, featureGradient: UnsafeMutablePointer<T>
    // Backward scratch.
    var gradOut: UnsafeMutablePointer<T>, gradIn: UnsafeMutablePointer<T>
    var gradResidual: UnsafeMutablePointer<T>, gradNormed: UnsafeMutablePointer<T>, gradContext: UnsafeMutablePointer<T>
    var gradQKV: UnsafeMutablePointer<T>, gradFfnAct: UnsafeMutablePointer<T>, gradFfnPre: UnsafeMutablePointer<T>
    var gradLoRATmp: UnsafeMutablePointer<T>, scratchLoRA: UnsafeMutablePointer<T>
    var embeddingGradient: UnsafeMutablePointer<T>
    var ones: UnsafeMutablePointer<T>

    init(config: EncoderConfig, classes: Int, lora: LoRAConfig?, batch B: Int, seqLen T_: Int) {
        capacityBatch = B
        capacitySeqLen = T_
        let H = config.hidden, I = config.intermediate, N = B * T_
        let probsCount = B * config.heads * T_ * T_
        let rank = lora?.rank ?? 0
        let preNorm = config.family == .gpt2
        var floats: [UnsafeMutablePointer<T>] = []
        var bytes: [UnsafeMutablePointer<UInt8>] = []
        func f(_ count: Int) -> UnsafeMutablePointer<T> {
            let p = UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            floats.append(p)
            return p
        }
        func u(_ count: Int) -> UnsafeMutablePointer<UInt8> {
            let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 1, count: max(count, 1))
            bytes.append(p)
            return p
        }
        embeddingSum = f(N * H); embeddingMean = f(N); embeddingRstd = f(N); embeddingMask = u(N * H)
        for _ in 0...config.layers { hidden.append(f(N * H)) }
        output = preNorm ? f(N * H) : hidden[config.layers]
        finalMean = f(preNorm ? N : 0); finalRstd = f(preNorm ? N : 0)
        for _ in 0..<config.layers {
            layers.append(Layer(qkv: f(N * 3 * H), probs: f(probsCount), attentionMask: u(probsCount),
                                context: f(N * H), residual1: f(N * H), mean1: f(N), rstd1: f(N),
                                normed1: f(N * H), ffnPre: f(N * I), ffnAct: f(N * I),
                                residual2: f(preNorm ? 0 : N * H), normed2: f(preNorm ? N * H : 0),
                                mean2: f(N), rstd2: f(N), mask1: u(N * H), mask2: u(N * H),
                                loraTmp: (lora?.targets ?? []).map { _ in f(N * rank) }))
        }
        features = f(B * H); featuresDropped = f(B * H); featureMask = u(B * H)
        logits = f(B * classes); logitGradient = f(B * classes); featureGradient = f(B * H)
        gradOut = f(N * H); gradIn = f(N * H); gradResidual = f(N * H); gradNormed = f(N * H); gradContext = f(N * H)
        gradQKV = f(N * 3 * H); gradFfnAct = f(N * I); gradFfnPre = f(N * I)
        gradLoRATmp = f(N * rank); scratchLoRA = f(rank * H)
        embeddingGradient = f(N * H)
        ones = f(max(N, H, I))
        ones.update(repeating: 1, count: max(N, H, I))
        floatBlocks = floats
        byteBlocks = bytes
    }

    deinit {
        for p in floatBlocks { p.deallocate() }
        for p in byteBlocks { p.deallocate() }
    }

    /// Whether a (B, T) batch fits without reallocation. Buffers are addressed with the actual
    /// T as row stride, so the capacity is in tokens and attention-probability entries.
    func fits(batch B: Int, seqLen T_: Int) -> Bool {
        B <= capacityBatch && B * T_ <= capacityBatch * capacitySeqLen && T_ <= capacitySeqLen
    }

    func setShape(batch B: Int, seqLen T_: Int) {
        batch = B
        seqLen = T_
    }
}
