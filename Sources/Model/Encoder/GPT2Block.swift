/// GPT-2 block (pre-LayerNorm, causal attention) and the final ln_f, as
/// GPT2ForSequenceClassification runs them, on the classifier's arena and workspace
/// (the embeddings h⁰ = dropout_embd(wte[ids] + wpe[positions]) are in SequenceClassifier):
///
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

    /// One block: x = hidden[l] (N, H) → hidden[l+1] ((N or B), H).
    func gpt2BlockForward(_ l: Int, ws: Workspace<T>, lengths: UnsafePointer<Int32>,
                          queryPositions: UnsafePointer<Int32>?, training: Bool, seed: UInt64) {
        let o = layerOffsets[l], a = ws.layers[l]
        let T_ = ws.seqLen, H = config.hidden, N = ws.batch * T_
        let rows = queryPositions == nil ? N : ws.batch
        let x = ws.hidden[l]
        // a = ln_1(x) on every token: keys and values of all positions are needed.
        normForward(a.normed1, mean: a.mean1, rstd: a.rstd1, x, gamma: o.norm1Gamma, beta: o.norm1Beta, rows: N)
        // h = x + dropout(c_proj(causal attention(a))).
        attentionSublayerForward(o, a, ws: ws, input: a.normed1, rows: rows, lengths: lengths, queryPositions: queryPositions,
                                 causal: true, training: training, seed: seed)
        hiddenDropoutForward(a.residual1, mask: a.mask1, rows: rows, training: training, seed: seed &+ 2)
        addResidual(a.residual1, x, rows: rows, dim: H, seqLen: T_, queryPositions: queryPositions)
        // out = h + dropout(c_proj(gelu_new(c_fc(ln_2(h))))).
        normForward(a.normed2, mean: a.mean2, rstd: a.rstd2, a.residual1, gamma: o.norm2Gamma, beta: o.norm2Beta, rows: rows)
        let out = ws.hidden[l + 1]
        feedForwardForward(o, a, input: a.normed2, output: out, rows: rows)
        hiddenDropoutForward(out, mask: a.mask2, rows: rows, training: training, seed: seed &+ 3)
        addResidual(out, a.residual1, rows: rows, dim: H, seqLen: T_, queryPositions: nil)
    }

    // MARK: Backward

    /// Backward of one block: ws.gradOut (rows of hidden[l+1]) → ws.gradIn (N, H) = dL/dhidden[l]
    /// (written only when `needInputGradient`). ws.gradOut is used as scratch.
    func gpt2BlockBackward(_ l: Int, ws: Workspace<T>, lengths: UnsafePointer<Int32>,
                           queryPositions: UnsafePointer<Int32>?, training: Bool, needInputGradient: Bool) {
        let o = layerOffsets[l], a = ws.layers[l]
        let H = config.hidden, N = ws.batch * ws.seqLen
        let rows = queryPositions == nil ? N : ws.batch
        let x = ws.hidden[l]
        // out = h + MLP(h): h gets dOut directly and through the MLP and ln_2.
        let dOut = ws.gradOut, dH = ws.gradResidual, dNormed = ws.gradNormed
        dH.update(from: dOut, count: rows * H)
        hiddenDropoutBackward(dOut, mask: a.mask2, rows: rows, training: training)
        dNormed.update(repeating: 0, count: rows * H)
        feedForwardBackward(o, a, ws: ws, dy: dOut, input: a.normed2, dInput: dNormed, rows: rows)
        normBackward(dx: dH, dout: dNormed, x: a.residual1, mean: a.mean2, rstd: a.rstd2,
                     gamma: o.norm2Gamma, beta: o.norm2Beta, rows: rows)
        // h = x + attention(ln_1(x)): x gets dH directly and through the causal attention and ln_1.
        let dx = ws.gradIn
        if needInputGradient { residualGradient(into: dx, from: dH, rows: rows, ws: ws, queryPositions: queryPositions) }
        hiddenDropoutBackward(dH, mask: a.mask1, rows: rows, training: training)
        // ln_1's own gradient needs the attention's input gradient even where x's is not needed.
        let needNormedGradient = needInputGradient || trainBackbone
        if needNormedGradient { dNormed.update(repeating: 0, count: N * H) }
        attentionSublayerBackward(o, a, ws: ws, dy: dH, input: a.normed1, dInput: needNormedGradient ? dNormed : nil, rows: rows,
                                  lengths: lengths, queryPositions: queryPositions, causal: true, training: training)
        if needNormedGradient {
            normBackward(dx: needInputGradient ? dx : nil, dout: dNormed, x: x, mean: a.mean1, rstd: a.rstd1,
                         gamma: o.norm1Gamma, beta: o.norm1Beta, rows: N)
        }
    }

    // MARK: ln_f

    /// ln_f after the last block: hidden[L] ((N or B), H) → ws.output, the final token states.
    func gpt2FinalNormForward(ws: Workspace<T>) {
        normForward(ws.output, mean: ws.finalMean, rstd: ws.finalRstd, ws.hidden[config.layers],
                    gamma: outerNormGamma, beta: outerNormBeta, rows: lastPruned ? ws.batch : ws.batch * ws.seqLen)
    }

    /// Backward of gpt2FinalNormForward: ws.gradOut = dL/d(final states) → ws.gradIn = dL/dhidden[L]
    /// (written only when `needInputGradient`).
    func gpt2FinalNormBackward(ws: Workspace<T>, needInputGradient: Bool) {
        let rows = lastPruned ? ws.batch : ws.batch * ws.seqLen
        if needInputGradient { ws.gradIn.update(repeating: 0, count: rows * config.hidden) }
        normBackward(dx: needInputGradient ? ws.gradIn : nil, dout: ws.gradOut, x: ws.hidden[config.layers],
                     mean: ws.finalMean, rstd: ws.finalRstd, gamma: outerNormGamma, beta: outerNormBeta, rows: rows)
    }
}
