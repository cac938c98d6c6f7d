/// BERT / RoBERTa encoder layer (post-LayerNorm, bidirectional attention) as Hugging Face's
/// BertLayer runs it, on the classifier's arena and workspace:
///
///   block l:  a = x + dropout(attention(x));  h = LayerNorm_1(a)
///             out = LayerNorm_2(h + dropout(FFN(h))),  FFN(h) = GELU(h·W1ᵀ + b1)·W2ᵀ + b2
///
/// Attention dropout acts on the probabilities; padded keys are masked. Query, key and value
/// are one fused (3H, H) projection (`BackboneLayout`). The pruned last block computes only
/// the feature token's row ([CLS]/<s>): its residual, FFN and norms run on B rows.
extension SequenceClassifier {
    // MARK: Forward

    /// One block: x = hidden[l] (N, H) → hidden[l+1] ((N or B), H).
    func bertBlockForward(_ l: Int, ws: Workspace<T>, lengths: UnsafePointer<Int32>,
                          queryPositions: UnsafePointer<Int32>?, training: Bool, seed: UInt64) {
        let o = layerOffsets[l], a = ws.layers[l]
        let T_ = ws.seqLen, H = config.hidden
        let rows = queryPositions == nil ? ws.batch * T_ : ws.batch
        let x = ws.hidden[l]
        let hiddenDrop = training && config.hiddenDropout > 0
        let hiddenScale = T(1 / (1 - config.hiddenDropout))
        // Attention → dropout → + residual → LayerNorm 1.
        attentionSublayerForward(o, a, ws: ws, input: x, rows: rows, lengths: lengths, queryPositions: queryPositions,
                                 causal: false, training: training, seed: seed)
        if hiddenDrop {
            dropoutMask(a.mask1, rows: rows, dim: H, p: config.hiddenDropout, seed: seed &+ 2)
            applyDropout(a.residual1, mask: a.mask1, count: rows * H, scale: hiddenScale)
        }
        addResidual(a.residual1, x, rows: rows, dim: H, seqLen: T_, queryPositions: queryPositions)
        layerNormForward(a.normed1, mean: a.mean1, rstd: a.rstd1, a.residual1, gamma: value(o.norm1Gamma),
                         beta: value(o.norm1Beta), n: rows, dim: H, eps: config.layerNormEps)
        // Feed-forward → dropout → + h → LayerNorm 2.
        feedForwardForward(o, a, input: a.normed1, output: a.residual2, rows: rows)
        if hiddenDrop {
            dropoutMask(a.mask2, rows: rows, dim: H, p: config.hiddenDropout, seed: seed &+ 3)
            applyDropout(a.residual2, mask: a.mask2, count: rows * H, scale: hiddenScale)
        }
        addResidual(a.residual2, a.normed1, rows: rows, dim: H, seqLen: T_, queryPositions: nil)
        layerNormForward(ws.hidden[l + 1], mean: a.mean2, rstd: a.rstd2, a.residual2, gamma: value(o.norm2Gamma),
                         beta: value(o.norm2Beta), n: rows, dim: H, eps: config.layerNormEps)
    }

    // MARK: Backward

    /// Backward of one block: ws.gradOut (rows of hidden[l+1]) → ws.gradIn (N, H) = dL/dhidden[l]
    /// (written only when `needInputGradient`).
    func bertBlockBackward(_ l: Int, ws: Workspace<T>, lengths: UnsafePointer<Int32>,
                           queryPositions: UnsafePointer<Int32>?, training: Bool, needInputGradient: Bool) {
        let o = layerOffsets[l], a = ws.layers[l]
        let H = config.hidden
        let rows = queryPositions == nil ? ws.batch * ws.seqLen : ws.batch
        let x = ws.hidden[l]
        let bb = trainBackbone
        let hiddenDrop = training && config.hiddenDropout > 0
        let hiddenScale = T(1 / (1 - config.hiddenDropout))
        // LayerNorm 2 → residual (to h) and dropout → feed-forward.
        let dRes = ws.gradResidual
        dRes.update(repeating: 0, count: rows * H)
        layerNormBackward(dx: dRes, dgamma: bb ? grad(o.norm2Gamma) : nil, dbeta: bb ? grad(o.norm2Beta) : nil,
                          dout: ws.gradOut, x: a.residual2, mean: a.mean2, rstd: a.rstd2,
                          gamma: value(o.norm2Gamma), n: rows, dim: H)
        let dNormed1 = ws.gradNormed
        dNormed1.update(from: dRes, count: rows * H)
        if hiddenDrop { applyDropout(dRes, mask: a.mask2, count: rows * H, scale: hiddenScale) }
        feedForwardBackward(o, a, ws: ws, dy: dRes, input: a.normed1, dInput: dNormed1, rows: rows)
        // LayerNorm 1 → residual (to x) and dropout → attention.
        dRes.update(repeating: 0, count: rows * H)
        layerNormBackward(dx: dRes, dgamma: bb ? grad(o.norm1Gamma) : nil, dbeta: bb ? grad(o.norm1Beta) : nil,
                          dout: dNormed1, x: a.residual1, mean: a.mean1, rstd: a.rstd1,
                          gamma: value(o.norm1Gamma), n: rows, dim: H)
        let dx = ws.gradIn
        if needInputGradient { residualGradient(into: dx, from: dRes, rows: rows, ws: ws, queryPositions: queryPositions) }
        if hiddenDrop { applyDropout(dRes, mask: a.mask1, count: rows * H, scale: hiddenScale) }
        attentionSublayerBackward(o, a, ws: ws, dy: dRes, input: x, dInput: needInputGradient ? dx : nil, rows: rows,
                                  lengths: lengths, queryPositions: queryPositions, causal: false, training: training)
    }
}
