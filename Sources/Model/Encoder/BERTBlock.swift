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
        // Attention → dropout → + residual → LayerNorm 1.
        attentionSublayerForward(o, a, ws: ws, input: x, rows: rows, lengths: lengths, queryPositions: queryPositions,
                                 causal: false, training: training, seed: seed)
        hiddenDropoutForward(a.residual1, mask: a.mask1, rows: rows, training: training, seed: seed &+ 2)
        addResidual(a.residual1, x, rows: rows, dim: H, seqLen: T_, queryPositions: queryPositions)
        normForward(a.normed1, mean: a.mean1, rstd: a.rstd1, a.residual1, gamma: o.norm1Gamma, beta: o.norm1Beta, rows: rows)
        // Feed-forward → dropout → + h → LayerNorm 2.
        feedForwardForward(o, a, input: a.normed1, output: a.residual2, rows: rows)
        hiddenDropoutForward(a.residual2, mask: a.mask2, rows: rows, training: training, seed: seed &+ 3)
        addResidual(a.residual2, a.normed1, rows: rows, dim: H, seqLen: T_, queryPositions: nil)
        normForward(ws.hidden[l + 1], mean: a.mean2, rstd: a.rstd2, a.residual2, gamma: o.norm2Gamma, beta: o.norm2Beta, rows: rows)
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
        // LayerNorm 2 → residual (to h) and dropout → feed-forward.
        let dRes = ws.gradResidual
        dRes.update(repeating: 0, count: rows * H)
        normBackward(dx: dRes, dout: ws.gradOut, x: a.residual2, mean: a.mean2, rstd: a.rstd2,
                     gamma: o.norm2Gamma, beta: o.norm2Beta, rows: rows)
        let dNormed1 = ws.gradNormed
        dNormed1.update(from: dRes, count: rows * H)
        hiddenDropoutBackward(dRes, mask: a.mask2, rows: rows, training: training)
        feedForwardBackward(o, a, ws: ws, dy: dRes, input: a.normed1, dInput: dNormed1, rows: rows)
        // LayerNorm 1 → residual (to x) and dropout → attention.
        dRes.update(repeating: 0, count: rows * H)
        normBackward(dx: dRes, dout: dNormed1, x: a.residual1, mean: a.mean1, rstd: a.rstd1,
                     gamma: o.norm1Gamma, beta: o.norm1Beta, rows: rows)
        let dx = ws.gradIn
        if needInputGradient { residualGradient(into: dx, from: dRes, rows: rows, ws: ws, queryPositions: queryPositions) }
        hiddenDropoutBackward(dRes, mask: a.mask1, rows: rows, training: training)
        attentionSublayerBackward(o, a, ws: ws, dy: dRes, input: x, dInput: needInputGradient ? dx : nil, rows: rows,
                                  lengths: lengths, queryPositions: queryPositions, causal: false, training: training)
    }
}
