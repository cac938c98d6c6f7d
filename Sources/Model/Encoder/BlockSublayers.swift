/// The sublayers both block orders share, forward and backward — BERT/RoBERTa (post-norm) and
/// GPT-2 (pre-norm) differ only in where their LayerNorms, dropout and residuals sit around them.
extension SequenceClassifier {
    // MARK: Attention

    /// Attention sublayer: input (N, H) → fused q,k,v (+ LoRA) → (causal) attention with
    /// dropout on the probabilities → output projection into a.residual1 (rows, H).
    func attentionSublayerForward(_ o: LayerOffsets, _ a: Workspace<T>.Layer, ws: Workspace<T>, input: UnsafeMutablePointer<T>,
                                  rows: Int, lengths: UnsafePointer<Int32>, queryPositions: UnsafePointer<Int32>?,
                                  causal: Bool, training: Bool, seed: UInt64) {
        let B = ws.batch, T_ = ws.seqLen, H = config.hidden, N = B * T_
        linearForward(a.qkv, ldy: 3 * H, input, ldx: H, value(o.qkvWeight), value(o.qkvBias), n: N, inDim: H, outDim: 3 * H)
        if let lora {
            for (i, target) in lora.targets.enumerated() {
                loraForward(out: a.qkv + target.block * H, ldo: 3 * H, tmp: a.loraTmp[i], x: input,
                            a: value(o.loraA[i]), b: value(o.loraB[i]), n: N, inDim: H, outDim: H,
                            rank: lora.rank, scaling: T(lora.scaling))
            }
        }
        let shape = AttentionShape(batch: B, seqLen: T_, hidden: H, heads: config.heads, causal: causal)
        let probsCount = B * config.heads * T_ * (queryPositions == nil ? T_ : 1)
        let attentionDrop = training && config.attentionDropout > 0
        if attentionDrop {
            dropoutMask(a.attentionMask, rows: probsCount / T_, dim: T_, p: config.attentionDropout, seed: seed &+ 1)
        }
        attentionForward(ctx: a.context, probs: a.probs, dropMask: attentionDrop ? UnsafePointer(a.attentionMask) : nil,
                         dropScale: T(1 / (1 - config.attentionDropout)), qkv: a.qkv, lengths: lengths,
                         queryPositions: queryPositions, shape: shape)
        linearForward(a.residual1, ldy: H, a.context, ldx: H, value(o.outWeight), value(o.outBias), n: rows, inDim: H, outDim: H)
    }

    /// Attention sublayer: dy = dL/d(output projection's output), (rows, H) → through the
    /// (causal) attention to the fused q, k, v gradient → adds dL/d(sublayer input) into dInput
    /// (N, H) when non-nil. `input` is what the q,k,v projection and the LoRA factors read.
    /// LoRA factors that do not train still pass the gradient on to dInput.
    func attentionSublayerBackward(_ o: LayerOffsets, _ a: Workspace<T>.Layer, ws: Workspace<T>, dy: UnsafeMutablePointer<T>,
                                   input: UnsafeMutablePointer<T>, dInput: UnsafeMutablePointer<T>?, rows: Int,
                                   lengths: UnsafePointer<Int32>, queryPositions: UnsafePointer<Int32>?,
                                   causal: Bool, training: Bool) {
        let B = ws.batch, T_ = ws.seqLen, H = config.hidden, N = B * T_, bb = trainBackbone
        ws.gradContext.update(repeating: 0, count: rows * H)
        linearBackward(dx: ws.gradContext, ldx: H, dw: bb ? grad(o.outWeight) : nil, db: bb ? grad(o.outBias) : nil,
                       dy: dy, ldy: H, x: a.context, w: value(o.outWeight), n: rows, inDim: H, outDim: H, ones: ws.ones)
        ws.gradQKV.update(repeating: 0, count: N * 3 * H)
        let shape = AttentionShape(batch: B, seqLen: T_, hidden: H, heads: config.heads, causal: causal)
        let attentionDrop = training && config.attentionDropout > 0
        attentionBackward(dqkv: ws.gradQKV, dctx: ws.gradContext, probs: a.probs,
                          dropMask: attentionDrop ? UnsafePointer(a.attentionMask) : nil,
                          dropScale: T(1 / (1 - config.attentionDropout)), qkv: a.qkv, lengths: lengths,
                          queryPositions: queryPositions, shape: shape)
        if let lora {
            for (i, target) in lora.targets.enumerated() where trainLoRA || dInput != nil {
                loraBackward(da: trainLoRA ? grad(o.loraA[i]) : ws.scratchLoRA,
                             db: trainLoRA ? grad(o.loraB[i]) : ws.scratchLoRA,
                             dx: dInput, dtmp: ws.gradLoRATmp,
                             dy: ws.gradQKV + target.block * H, ldy: 3 * H, tmp: a.loraTmp[i], x: input,
                             a: value(o.loraA[i]), b: value(o.loraB[i]), n: N, inDim: H, outDim: H,
                             rank: lora.rank, scaling: T(lora.scaling))
            }
        }
        linearBackward(dx: dInput, ldx: H, dw: bb ? grad(o.qkvWeight) : nil,
                       db: bb ? grad(o.qkvBias) : nil, dy: ws.gradQKV, ldy: 3 * H, x: input, w: value(o.qkvWeight),
                       n: N, inDim: H, outDim: 3 * H, ones: ws.ones)
    }

    // MARK: Feed-forward

    /// Feed-forward sublayer: input (rows, H) → activation(input·W1ᵀ + b1)·W2ᵀ + b2 into output (rows, H).
    func feedForwardForward(_ o: LayerOffsets, _ a: Workspace<T>.Layer, input: UnsafeMutablePointer<T>,
                            output: UnsafeMutablePointer<T>, rows: Int) {
        let H = config.hidden, I = config.intermediate
        linearForward(a.ffnPre, ldy: I, input, ldx: H, value(o.ffnInWeight), value(o.ffnInBias), n: rows, inDim: H, outDim: I)
        activationForward(a.ffnAct, a.ffnPre, count: rows * I, config.activation)
        linearForward(output, ldy: H, a.ffnAct, ldx: I, value(o.ffnOutWeight), value(o.ffnOutBias), n: rows, inDim: I, outDim: H)
    }

    /// Feed-forward sublayer: dy = dL/d(second projection's output), (rows, H) → adds
    /// dL/d(sublayer input) into dInput (rows, H). `input` is what the first projection read.
    func feedForwardBackward(_ o: LayerOffsets, _ a: Workspace<T>.Layer, ws: Workspace<T>, dy: UnsafeMutablePointer<T>,
                             input: UnsafeMutablePointer<T>, dInput: UnsafeMutablePointer<T>, rows: Int) {
        let H = config.hidden, I = config.intermediate, bb = trainBackbone
        ws.gradFfnAct.update(repeating: 0, count: rows * I)
        linearBackward(dx: ws.gradFfnAct, ldx: I, dw: bb ? grad(o.ffnOutWeight) : nil, db: bb ? grad(o.ffnOutBias) : nil,
                       dy: dy, ldy: H, x: a.ffnAct, w: value(o.ffnOutWeight), n: rows, inDim: I, outDim: H, ones: ws.ones)
        activationBackward(dx: ws.gradFfnPre, dout: ws.gradFfnAct, x: a.ffnPre, count: rows * I, config.activation)
        linearBackward(dx: dInput, ldx: H, dw: bb ? grad(o.ffnInWeight) : nil, db: bb ? grad(o.ffnInBias) : nil,
                       dy: ws.gradFfnPre, ldy: I, x: input, w: value(o.ffnInWeight), n: rows, inDim: H, outDim: I, ones: ws.ones)
    }

    // MARK: LayerNorm

    /// LayerNorm with γ, β at arena offsets `gamma`, `beta`: x → out (rows, H); mean, rstd
    /// (rows) saved for backward.
    func normForward(_ out: UnsafeMutablePointer<T>, mean: UnsafeMutablePointer<T>, rstd: UnsafeMutablePointer<T>,
                     _ x: UnsafePointer<T>, gamma: Int, beta: Int, rows: Int) {
        layerNormForward(out, mean: mean, rstd: rstd, x, gamma: value(gamma), beta: value(beta),
                         n: rows, dim: config.hidden, eps: config.layerNormEps)
    }

    /// Backward of normForward: dx ACCUMULATES (nil: not needed); γ and β's gradients
    /// accumulate when the backbone trains.
    func normBackward(dx: UnsafeMutablePointer<T>?, dout: UnsafePointer<T>, x: UnsafePointer<T>, mean: UnsafePointer<T>,
                      rstd: UnsafePointer<T>, gamma: Int, beta: Int, rows: Int) {
        let bb = trainBackbone
        layerNormBackward(dx: dx, dgamma: bb ? grad(gamma) : nil, dbeta: bb ? grad(beta) : nil, dout: dout, x: x,
                          mean: mean, rstd: rstd, gamma: value(gamma), n: rows, dim: config.hidden)
    }

    // MARK: Hidden dropout

    /// Dropout on a branch's output before its residual add (hidden_dropout_prob, GPT-2's
    /// resid_pdrop): y (rows, H) *= mask/(1 − p), the mask drawn from `seed` and kept for backward.
    func hiddenDropoutForward(_ y: UnsafeMutablePointer<T>, mask: UnsafeMutablePointer<UInt8>, rows: Int,
                              training: Bool, seed: UInt64) {
        guard training && config.hiddenDropout > 0 else { return }
        dropoutMask(mask, rows: rows, dim: config.hidden, p: config.hiddenDropout, seed: seed)
        applyDropout(y, mask: mask, count: rows * config.hidden, scale: T(1 / (1 - config.hiddenDropout)))
    }

    /// Backward of hiddenDropoutForward: dy (rows, H) *= mask/(1 − p).
    func hiddenDropoutBackward(_ dy: UnsafeMutablePointer<T>, mask: UnsafePointer<UInt8>, rows: Int, training: Bool) {
        guard training && config.hiddenDropout > 0 else { return }
        applyDropout(dy, mask: mask, count: rows * config.hidden, scale: T(1 / (1 - config.hiddenDropout)))
    }

    // MARK: Residual

    /// y[r] += x[row(r)], where row(r) = r, or b·T + queryPositions[b] for compact rows r = b.
    func addResidual(_ y: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, rows: Int, dim: Int,
                     seqLen: Int, queryPositions: UnsafePointer<Int32>?) {
        Parallel.forRanges(rows, grain: max(1, 16384 / dim)) { range in
            for r in range {
                let src = x + (queryPositions.map { r * seqLen + Int($0[r]) } ?? r) * dim
                let dst = y + r * dim
                for j in 0..<dim { dst[j] += src[j] }
            }
        }
    }

    /// Backward of addResidual, the gradient reaching x: dx (N, H) = dy's rows at their token
    /// rows — all rows, or, for a pruned last layer (queryPositions), one row per example — and
    /// zero elsewhere.
    func residualGradient(into dx: UnsafeMutablePointer<T>, from dy: UnsafeMutablePointer<T>, rows: Int,
                          ws: Workspace<T>, queryPositions: UnsafePointer<Int32>?) {
        let H = config.hidden, T_ = ws.seqLen
        dx.update(repeating: 0, count: ws.batch * T_ * H)
        for r in 0..<rows {
            let row = queryPositions.map { r * T_ + Int($0[r]) } ?? r
            let dst = dx + row * H, src = dy + r * H
            for j in 0..<H { dst[j] += src[j] }
        }
    }
}
