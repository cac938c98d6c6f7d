/// GPT-2 (pre-LayerNorm causal decoder) as GPT2ForSequenceClassification runs it, on the
/// classifier's arena and workspace:
///
///   h⁰ = dropout_embd(wte[ids] + wpe[positions])
///   block l:  a = ln_1(x);  h = x + dropout_resid(c_proj(causal_attention(c_attn(a))))
///             out = h + dropout_resid(c_proj(gelu_new(c_fc(ln_2(h)))))
///   final = ln_f(h^L);  φ = final state of the last real token
///
/// Attention dropout (attn_pdrop) acts on the probabilities; padded keys are masked and, with
/// right padding, every real token sees exactly the real tokens before it (as with Hugging
/// Face's attention mask). Weights are stored (out, in) (`BackboneLayout`): c_attn (3H, H)
/// produces the fused [q | k | v] rows the attention functions read, and LoRA adapts its query
/// and value column blocks. The pruned last block computes only the feature token's row.
extension SequenceClassifier {
    // MARK: Forward

    /// Embeddings → dropout → blocks → ln_f into ws.output (B rows when pruned, else B·T).
    func gpt2Forward(_ batch: TokenBatch, ws: Workspace<T>, training: Bool, siteSeed: (Int) -> UInt64) {
        let N = ws.batch * ws.seqLen, H = config.hidden
        batch.ids.withUnsafeBufferPointer { ids in
        batch.typeIds.withUnsafeBufferPointer { types in
        batch.positionIds.withUnsafeBufferPointer { positions in
        batch.lengths.withUnsafeBufferPointer { lengths in
        batch.featurePositions.withUnsafeBufferPointer { featurePositions in
            embeddingForward(ws.hidden[0], ids: ids.baseAddress!, positions: positions.baseAddress!,
                             types: types.baseAddress!, word: value(wordEmbeddings), position: value(positionEmbeddings),
                             type: nil, n: N, dim: H)
            if training && config.embeddingDropout > 0 {
                dropoutMask(ws.embeddingMask, rows: N, dim: H, p: config.embeddingDropout, seed: siteSeed(0))
                applyDropout(ws.hidden[0], mask: ws.embeddingMask, count: N * H, scale: T(1 / (1 - config.embeddingDropout)))
            }
            for l in 0..<config.layers {
                let pruned = lastPruned && l == config.layers - 1
                gpt2BlockForward(l, ws: ws, lengths: lengths.baseAddress!,
                                 queryPositions: pruned ? featurePositions.baseAddress! : nil,
                                 training: training, seed: siteSeed(1 + l))
            }
        }}}}}
        layerNormForward(ws.output, mean: ws.finalMean, rstd: ws.finalRstd, ws.hidden[config.layers],
                         gamma: value(outerNormGamma), beta: value(outerNormBeta),
                         n: lastPruned ? ws.batch : N, dim: H, eps: config.layerNormEps)
    }

    /// One block: x = hidden[l] (N, H) → hidden[l+1] ((N or B), H).
    private func gpt2BlockForward(_ l: Int, ws: Workspace<T>, lengths: UnsafePointer<Int32>,
                                  queryPositions: UnsafePointer<Int32>?, training: Bool, seed: UInt64) {
        let o = layerOffsets[l], a = ws.layers[l]
        let T_ = ws.seqLen, H = config.hidden, N = ws.batch * T_
        let rows = queryPositions == nil ? N : ws.batch
        let x = ws.hidden[l]
        // a = ln_1(x) on every token: keys and values of all positions are needed.
        layerNormForward(a.normed1, mean: a.mean1, rstd: a.rstd1, x, gamma: value(o.norm1Gamma), beta: value(o.norm1Beta),
                         n: N, dim: H, eps: config.layerNormEps)
        // h = x + dropout(c_proj(causal attention(a))).
        attentionSublayerForward(o, a, ws: ws, input: a.normed1, rows: rows, lengths: lengths, queryPositions: queryPositions,
                                 causal: true, training: training, seed: seed)
        let residualDrop = training && config.hiddenDropout > 0
        let residualScale = T(1 / (1 - config.hiddenDropout))
        if residualDrop {
            dropoutMask(a.mask1, rows: rows, dim: H, p: config.hiddenDropout, seed: seed &+ 2)
            applyDropout(a.residual1, mask: a.mask1, count: rows * H, scale: residualScale)
        }
        addResidual(a.residual1, x, rows: rows, dim: H, seqLen: T_, queryPositions: queryPositions)
        // out = h + dropout(c_proj(gelu_new(c_fc(ln_2(h))))).
        layerNormForward(a.normed2, mean: a.mean2, rstd: a.rstd2, a.residual1, gamma: value(o.norm2Gamma),
                         beta: value(o.norm2Beta), n: rows, dim: H, eps: config.layerNormEps)
        let out = ws.hidden[l + 1]
        feedForwardForward(o, a, input: a.normed2, output: out, rows: rows)
        if residualDrop {
            dropoutMask(a.mask2, rows: rows, dim: H, p: config.hiddenDropout, seed: seed &+ 3)
            applyDropout(out, mask: a.mask2, count: rows * H, scale: residualScale)
        }
        addResidual(out, a.residual1, rows: rows, dim: H, seqLen: T_, queryPositions: nil)
    }

    // MARK: Backward

    /// dL/dφ (B, H) → ln_f → blocks in reverse → embedding tables (when the backbone trains).
    func gpt2Backward(featureGradient: UnsafePointer<T>) {
        let ws = workspace!, batch = lastBatch!
        let B = ws.batch, T_ = ws.seqLen, H = config.hidden
        let N = B * T_
        let training = lastDropoutSeed != nil
        let outRows = lastPruned ? B : N
        // dφ into its rows of ln_f's output (ws.gradIn as scratch), then through ln_f.
        let dFinal = ws.gradIn
        dFinal.update(repeating: 0, count: outRows * H)
        for b in 0..<B {
            let row = lastPruned ? b : b * T_ + Int(batch.featurePositions[b])
            let dst = dFinal + row * H, src = featureGradient + b * H
            for j in 0..<H { dst[j] += src[j] }
        }
        let bb = trainBackbone
        ws.gradOut.update(repeating: 0, count: outRows * H)
        layerNormBackward(dx: ws.gradOut, dgamma: bb ? grad(outerNormGamma) : nil, dbeta: bb ? grad(outerNormBeta) : nil,
                          dout: dFinal, x: ws.hidden[config.layers], mean: ws.finalMean, rstd: ws.finalRstd,
                          gamma: value(outerNormGamma), n: outRows, dim: H)
        // With LoRA only, layer 0 needs no input gradient (its LoRA gradient comes from dqkv).
        let needEmbeddingGradient = trainBackbone
        batch.lengths.withUnsafeBufferPointer { lengths in
        batch.featurePositions.withUnsafeBufferPointer { featurePositions in
            for l in stride(from: config.layers - 1, through: 0, by: -1) {
                let pruned = lastPruned && l == config.layers - 1
                gpt2BlockBackward(l, ws: ws, lengths: lengths.baseAddress!,
                                  queryPositions: pruned ? featurePositions.baseAddress! : nil,
                                  training: training, needInputGradient: l > 0 || needEmbeddingGradient)
                swap(&ws.gradOut, &ws.gradIn)  // this block's input gradient is the next one's output gradient
            }
        }}
        guard needEmbeddingGradient else { return }
        // h⁰ = dropout(embedding sum): the sum's gradient is h⁰'s through the same mask.
        if training && config.embeddingDropout > 0 {
            applyDropout(ws.gradOut, mask: ws.embeddingMask, count: N * H, scale: T(1 / (1 - config.embeddingDropout)))
        }
        ws.embeddingGradient.update(from: ws.gradOut, count: N * H)
        scatterEmbeddingGradient(batch, ws: ws)
    }

    /// Backward of one block: ws.gradOut (rows of hidden[l+1]) → ws.gradIn (N, H) = dL/dhidden[l]
    /// (written only when `needInputGradient`). ws.gradOut is used as scratch.
    private func gpt2BlockBackward(_ l: Int, ws: Workspace<T>, lengths: UnsafePointer<Int32>,
                                   queryPositions: UnsafePointer<Int32>?, training: Bool, needInputGradient: Bool) {
        let o = layerOffsets[l], a = ws.layers[l]
        let H = config.hidden, N = ws.batch * ws.seqLen
        let rows = queryPositions == nil ? N : ws.batch
        let x = ws.hidden[l]
        let bb = trainBackbone
        let residualDrop = training && config.hiddenDropout > 0
        let residualScale = T(1 / (1 - config.hiddenDropout))
        // out = h + MLP(h): h gets dOut directly and through the MLP and ln_2.
        let dOut = ws.gradOut, dH = ws.gradResidual, dNormed = ws.gradNormed
        dH.update(from: dOut, count: rows * H)
        if residualDrop { applyDropout(dOut, mask: a.mask2, count: rows * H, scale: residualScale) }
        dNormed.update(repeating: 0, count: rows * H)
        feedForwardBackward(o, a, ws: ws, dy: dOut, input: a.normed2, dInput: dNormed, rows: rows)
        layerNormBackward(dx: dH, dgamma: bb ? grad(o.norm2Gamma) : nil, dbeta: bb ? grad(o.norm2Beta) : nil,
                          dout: dNormed, x: a.residual1, mean: a.mean2, rstd: a.rstd2,
                          gamma: value(o.norm2Gamma), n: rows, dim: H)
        // h = x + attention(ln_1(x)): x gets dH directly and through the causal attention and ln_1.
        let dx = ws.gradIn
        if needInputGradient { residualGradient(into: dx, from: dH, rows: rows, ws: ws, queryPositions: queryPositions) }
        if residualDrop { applyDropout(dH, mask: a.mask1, count: rows * H, scale: residualScale) }
        if needInputGradient { dNormed.update(repeating: 0, count: N * H) }
        attentionSublayerBackward(o, a, ws: ws, dy: dH, input: a.normed1, dInput: needInputGradient ? dNormed : nil, rows: rows,
                                  lengths: lengths, queryPositions: queryPositions, causal: true, training: training)
        // needInputGradient is false only for layer 0 with a frozen backbone (no ln_1 gradient either).
        if needInputGradient {
            layerNormBackward(dx: dx, dgamma: bb ? grad(o.norm1Gamma) : nil, dbeta: bb ? grad(o.norm1Beta) : nil,
                              dout: dNormed, x: x, mean: a.mean1, rstd: a.rstd1,
                              gamma: value(o.norm1Gamma), n: N, dim: H)
        }
    }
}
