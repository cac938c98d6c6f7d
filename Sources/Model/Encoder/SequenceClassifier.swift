/// A transformer encoder with a linear classification head: f(x) = V·dropout(φ(x)) + b.
///
/// BERT/RoBERTa (post-LayerNorm, bidirectional) with φ(x) = final hidden state of the first
/// token; GPT-2 (pre-LayerNorm blocks, causal attention, final ln_f; GPT2Block.swift) with
/// φ(x) = final hidden state of the last real token, as GPT2ForSequenceClassification. Parameters
/// live in one arena (backbone, then LoRA, then head; `BackboneLayout`) and gradients in its
/// twin; every layer is a forward/backward pair of free functions (Layers/), called here in
/// order and in reverse.
///
/// Usage per step:  forward(batch, dropoutSeed:) → loss(labels:) → backward().
/// Backward ACCUMULATES into `parameters.gradients` (zero them between steps).
public final class SequenceClassifier<T: ModelScalar> {
    public private(set) var config: EncoderConfig
    public let classes: Int
    public let lora: LoRAConfig?
    public let parameters: ParameterStore<T>

    /// Which parameters get gradients in backward: backbone weights (FT), LoRA factors, head.
    public var trainBackbone = true
    public var trainLoRA = true
    public var trainHead = true

    /// Arena offsets of one block's tensors (roles as in `BackboneLayout.Layer`).
    struct LayerOffsets {
        var qkvWeight: Int, qkvBias: Int, outWeight: Int, outBias: Int, norm1Gamma: Int, norm1Beta: Int
        var ffnInWeight: Int, ffnInBias: Int, ffnOutWeight: Int, ffnOutBias: Int, norm2Gamma: Int, norm2Beta: Int
        /// Per LoRA target: offsets of A (r, H) and B (H, r).
        var loraA: [Int], loraB: [Int]
    }

    let wordEmbeddings: Int, positionEmbeddings: Int, typeEmbeddings: Int?
    /// The LayerNorm outside the blocks: embeddings.LayerNorm (BERT, RoBERTa) or ln_f (GPT-2).
    let outerNormGamma: Int, outerNormBeta: Int
    var layerOffsets: [LayerOffsets] = []
    let headWeight: Int, headBias: Int

    /// Word-embedding rows (token ids) that received gradient since zeroGradients(); after a
    /// data-parallel allreduce, set it to the union over ranks.
    public var touchedWordRows: [UInt8]

    /// Activations of the last forward, reused across steps.
    var workspace: Workspace<T>?
    var lastBatch: TokenBatch?
    var lastDropoutSeed: UInt64?
    var lastPruned = true

    // MARK: Construction

    /// Allocates zeroed parameters for `config` plus LoRA factors (if any) and a `classes`-way
    /// head, laid out as `BackboneLayout` describes. The head is the paper's for every family
    /// (`classifier.weight` (C, H), `classifier.bias` (C), dropout before it).
    public init(config: EncoderConfig, classes: Int, lora: LoRAConfig? = nil) {
        self.config = config
        self.classes = classes
        self.lora = lora
        touchedWordRows = [UInt8](repeating: 0, count: config.vocabularySize)
        let layout = BackboneLayout(config: config, lora: lora)
        let head: [(name: String, shape: [Int], group: ParameterGroup)] = [
            ("classifier.weight", [classes, config.hidden], .head), ("classifier.bias", [classes], .head),
        ]
        let store = ParameterStore<T>(layout.tensors + head)
        parameters = store

        wordEmbeddings = store.offset(layout.wordEmbeddings)
        positionEmbeddings = store.offset(layout.positionEmbeddings)
        typeEmbeddings = layout.typeEmbeddings.map { store.offset($0) }
        outerNormGamma = store.offset(layout.outerNormGamma)
        outerNormBeta = store.offset(layout.outerNormBeta)
        headWeight = store.offset("classifier.weight")
        headBias = store.offset("classifier.bias")
        layerOffsets = layout.layers.map { names in
            LayerOffsets(qkvWeight: store.offset(names.qkvWeight), qkvBias: store.offset(names.qkvBias),
                         outWeight: store.offset(names.outWeight), outBias: store.offset(names.outBias),
                         norm1Gamma: store.offset(names.norm1Gamma), norm1Beta: store.offset(names.norm1Beta),
                         ffnInWeight: store.offset(names.ffnInWeight), ffnInBias: store.offset(names.ffnInBias),
                         ffnOutWeight: store.offset(names.ffnOutWeight), ffnOutBias: store.offset(names.ffnOutBias),
                         norm2Gamma: store.offset(names.norm2Gamma), norm2Beta: store.offset(names.norm2Beta),
                         loraA: names.loraA.map { store.offset($0) }, loraB: names.loraB.map { store.offset($0) })
        }
    }

    /// Initialises the head as Hugging Face does (weight N(0, 0.02²), bias 0) and LoRA as PEFT
    /// (A uniform in ±1/√in, B zero), from `seed`.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func initializeHeadAndLoRA(seed: UInt64) {
        var rng = RandomGenerator(seed: seed, stream: 0x4845_4144)  // "HEAD"
        let w = parameters.values.baseAddress! + headWeight
        for i in 0..<(classes * config.hidden) { w[i] = T(0.02 * rng.nextGaussian()) }
        (parameters.values.baseAddress! + headBias).update(repeating: 0, count: classes)
        guard let lora else { return }
        var loraRng = RandomGenerator(seed: seed, stream: 0x4C4F_5241)  // "LORA"
        let bound = 1 / Double(config.hidden).squareRoot()
        for o in layerOffsets {
            for (a, b) in zip(o.loraA, o.loraB) {
                let pa = parameters.values.baseAddress! + a
                for i in 0..<(lora.rank * config.hidden) { pa[i] = T((2 * loraRng.nextDouble() - 1) * bound) }
                (parameters.values.baseAddress! + b).update(repeating: 0, count: lora.rank * config.hidden)
            }
        }
    }

    /// Overrides the dropout probabilities of the loaded configuration (hidden/head and attention).
    public func setDropout(hidden: Double, attention: Double) {
        config.hiddenDropout = hidden
        config.embeddingDropout = hidden
        config.attentionDropout = attention
    }

    @inline(__always) func value(_ offset: Int) -> UnsafeMutablePointer<T> { parameters.values.baseAddress! + offset }
    @inline(__always) func grad(_ offset: Int) -> UnsafeMutablePointer<T> { parameters.gradients.baseAddress! + offset }

    // MARK: Forward

    /// Runs the encoder and the head. `dropoutSeed` nil = eval mode (no dropout). With
    /// `allTokens`, every token's final hidden state is computed (for mean pooling); otherwise
    /// the last layer computes only the feature token of each example (exactly the same φ).
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func forward(_ batch: TokenBatch, dropoutSeed: UInt64? = nil, allTokens: Bool = false) {
        let B = batch.batchSize, T_ = batch.seqLen, H = config.hidden
        if workspace == nil || !workspace!.fits(batch: B, seqLen: T_) {
            workspace = Workspace<T>(config: config, classes: classes, lora: lora, batch: B, seqLen: T_)
        }
        let ws = workspace!
        ws.setShape(batch: B, seqLen: T_)
        lastBatch = batch
        lastDropoutSeed = dropoutSeed
        lastPruned = !allTokens
        let training = dropoutSeed != nil
        // Independent dropout streams per site: 0 embeddings, 1 + l layer l, 10 000 the head.
        func siteSeed(_ site: Int) -> UInt64 {
            var g = RandomGenerator(seed: dropoutSeed ?? 0, stream: UInt64(site))
            return g.next()
        }
        if config.family == .gpt2 {
            gpt2Forward(batch, ws: ws, training: training, siteSeed: siteSeed)
        } else {
            encoderForward(batch, ws: ws, training: training, siteSeed: siteSeed)
        }
        // Features φ: the feature token's final hidden state (compact rows when pruned).
        for b in 0..<B {
            let row = lastPruned ? b : b * T_ + Int(batch.featurePositions[b])
            (ws.features + b * H).update(from: ws.output + row * H, count: H)
        }
        headForward(training: training, seed: siteSeed(10_000))
    }

    /// BERT / RoBERTa: embeddings → LayerNorm → dropout → post-LN layers into ws.output.
    private func encoderForward(_ batch: TokenBatch, ws: Workspace<T>, training: Bool, siteSeed: (Int) -> UInt64) {
        let N = ws.batch * ws.seqLen, H = config.hidden
        let hiddenScale = T(1 / (1 - config.hiddenDropout))
        batch.ids.withUnsafeBufferPointer { ids in
        batch.typeIds.withUnsafeBufferPointer { types in
        batch.positionIds.withUnsafeBufferPointer { positions in
        batch.lengths.withUnsafeBufferPointer { lengths in
        batch.featurePositions.withUnsafeBufferPointer { featurePositions in
            // Embeddings → LayerNorm → dropout.
            embeddingForward(ws.embeddingSum, ids: ids.baseAddress!, positions: positions.baseAddress!,
                             types: types.baseAddress!, word: value(wordEmbeddings),
                             position: value(positionEmbeddings), type: typeEmbeddings.map { value($0) },
                             n: N, dim: H)
            layerNormForward(ws.hidden[0], mean: ws.embeddingMean, rstd: ws.embeddingRstd, ws.embeddingSum,
                             gamma: value(outerNormGamma), beta: value(outerNormBeta),
                             n: N, dim: H, eps: config.layerNormEps)
            if training && config.embeddingDropout > 0 {
                dropoutMask(ws.embeddingMask, rows: N, dim: H, p: config.embeddingDropout, seed: siteSeed(0))
                applyDropout(ws.hidden[0], mask: ws.embeddingMask, count: N * H, scale: T(1 / (1 - config.embeddingDropout)))
            }
            for l in 0..<config.layers {
                let pruned = lastPruned && l == config.layers - 1
                layerForward(l, ws: ws, lengths: lengths.baseAddress!,
                             queryPositions: pruned ? featurePositions.baseAddress! : nil,
                             training: training, seed: siteSeed(1 + l),
                             hiddenScale: hiddenScale)
            }
        }}}}}
    }

    /// One encoder layer: X = hidden[l] (N, H) → hidden[l+1] ((N or B), H).
    private func layerForward(_ l: Int, ws: Workspace<T>, lengths: UnsafePointer<Int32>,
                              queryPositions: UnsafePointer<Int32>?, training: Bool, seed: UInt64,
                              hiddenScale: T) {
        let o = layerOffsets[l], a = ws.layers[l]
        let T_ = ws.seqLen, H = config.hidden
        let rows = queryPositions == nil ? ws.batch * T_ : ws.batch
        let x = ws.hidden[l]
        // Attention → dropout → + residual → LayerNorm.
        attentionSublayerForward(o, a, ws: ws, input: x, rows: rows, lengths: lengths, queryPositions: queryPositions,
                                 causal: false, training: training, seed: seed)
        let hiddenDrop = training && config.hiddenDropout > 0
        if hiddenDrop {
            dropoutMask(a.mask1, rows: rows, dim: H, p: config.hiddenDropout, seed: seed &+ 2)
            applyDropout(a.residual1, mask: a.mask1, count: rows * H, scale: hiddenScale)
        }
        addResidual(a.residual1, x, rows: rows, dim: H, seqLen: T_, queryPositions: queryPositions)
        layerNormForward(a.normed1, mean: a.mean1, rstd: a.rstd1, a.residual1, gamma: value(o.norm1Gamma),
                         beta: value(o.norm1Beta), n: rows, dim: H, eps: config.layerNormEps)
        // Feed-forward: GELU(h1·W1ᵀ + b1)·W2ᵀ + b2 → dropout → + h1 → LayerNorm.
        feedForwardForward(o, a, input: a.normed1, output: a.residual2, rows: rows)
        if hiddenDrop {
            dropoutMask(a.mask2, rows: rows, dim: H, p: config.hiddenDropout, seed: seed &+ 3)
            applyDropout(a.residual2, mask: a.mask2, count: rows * H, scale: hiddenScale)
        }
        addResidual(a.residual2, a.normed1, rows: rows, dim: H, seqLen: T_, queryPositions: nil)
        layerNormForward(ws.hidden[l + 1], mean: a.mean2, rstd: a.rstd2, a.residual2, gamma: value(o.norm2Gamma),
                         beta: value(o.norm2Beta), n: rows, dim: H, eps: config.layerNormEps)
    }

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

    private func headForward(training: Bool, seed: UInt64) {
        let ws = workspace!
        let B = ws.batch, H = config.hidden
        ws.featuresDropped.update(from: ws.features, count: B * H)
        if training && config.hiddenDropout > 0 {
            dropoutMask(ws.featureMask, rows: B, dim: H, p: config.hiddenDropout, seed: seed)
            applyDropout(ws.featuresDropped, mask: ws.featureMask, count: B * H, scale: T(1 / (1 - config.hiddenDropout)))
        }
        linearForward(ws.logits, ldy: classes, ws.featuresDropped, ldx: H, value(headWeight), value(headBias),
                      n: B, inDim: H, outDim: classes)
    }

    // MARK: Outputs of the last forward

    public var batchSize: Int { workspace?.batch ?? 0 }

    /// φ of the last forward, (B, H) row-major.
    public var features: UnsafeBufferPointer<T> {
        UnsafeBufferPointer(start: workspace!.features, count: workspace!.batch * config.hidden)
    }

    /// Logits of the last forward, (B, C) row-major.
    public var logits: UnsafeBufferPointer<T> {
        UnsafeBufferPointer(start: workspace!.logits, count: workspace!.batch * classes)
    }

    /// Final hidden states of every token, (B·T, H); only after forward(allTokens: true).
    public var tokenStates: UnsafeBufferPointer<T> {
        precondition(!lastPruned, "tokenStates needs forward(allTokens: true)")
        return UnsafeBufferPointer(start: workspace!.output, count: workspace!.batch * workspace!.seqLen * config.hidden)
    }

    /// Mean cross-entropy of the last forward's logits against `labels`; stores
    /// dL/dlogits = (softmax − onehot)/B for backward().
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    @discardableResult
    public func loss(labels: [Int]) -> Double {
        let ws = workspace!
        let B = ws.batch, C = classes
        precondition(labels.count == B && labels.allSatisfy { $0 >= 0 && $0 < C })
        return crossEntropyForward(dlogits: ws.logitGradient, logits: ws.logits, labels: labels, batch: B, classes: C)
    }

    // MARK: Backward

    /// Backpropagates the gradient stored by loss(labels:) into the parameter gradients.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func backward() {
        let ws = workspace!
        let B = ws.batch, H = config.hidden
        // Head: logits = φ_drop·Vᵀ + b.
        ws.featureGradient.update(repeating: 0, count: B * H)
        linearBackward(dx: ws.featureGradient, ldx: H, dw: trainHead ? grad(headWeight) : nil,
                       db: trainHead ? grad(headBias) : nil, dy: ws.logitGradient, ldy: classes,
                       x: ws.featuresDropped, w: value(headWeight), n: B, inDim: H, outDim: classes, ones: ws.ones)
        if lastDropoutSeed != nil && config.hiddenDropout > 0 {
            applyDropout(ws.featureGradient, mask: ws.featureMask, count: B * H, scale: T(1 / (1 - config.hiddenDropout)))
        }
        if trainBackbone || (lora != nil && trainLoRA) {
            backward(featureGradient: ws.featureGradient)
        }
    }

    /// Backpropagates dL/dφ (B, H) through the encoder into the backbone and LoRA gradients
    /// (as enabled by trainBackbone / trainLoRA). The eNTK calls this with dφ = V_c.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func backward(featureGradient: UnsafePointer<T>) {
        if config.family == .gpt2 {
            gpt2Backward(featureGradient: featureGradient)
            return
        }
        let ws = workspace!, batch = lastBatch!
        let B = ws.batch, T_ = ws.seqLen, H = config.hidden
        let N = B * T_
        let training = lastDropoutSeed != nil
        let hiddenScale = T(1 / (1 - config.hiddenDropout))
        // Gradient w.r.t. the last layer's output rows.
        let outRows = lastPruned ? B : N
        ws.gradOut.update(repeating: 0, count: outRows * H)
        for b in 0..<B {
            let row = lastPruned ? b : b * T_ + Int(batch.featurePositions[b])
            let dst = ws.gradOut + row * H, src = featureGradient + b * H
            for j in 0..<H { dst[j] += src[j] }
        }
        // The lowest layer whose input gradient matters: embeddings train with the backbone;
        // with LoRA only, layer 0's LoRA needs dX of layer 0 computed internally but not below.
        let needEmbeddingGradient = trainBackbone
        batch.lengths.withUnsafeBufferPointer { lengths in
        batch.featurePositions.withUnsafeBufferPointer { featurePositions in
            for l in stride(from: config.layers - 1, through: 0, by: -1) {
                let pruned = lastPruned && l == config.layers - 1
                let needInputGradient = l > 0 || needEmbeddingGradient
                layerBackward(l, ws: ws, lengths: lengths.baseAddress!,
                              queryPositions: pruned ? featurePositions.baseAddress! : nil,
                              training: training, hiddenScale: hiddenScale,
                              needInputGradient: needInputGradient)
                swap(&ws.gradOut, &ws.gradIn)  // this layer's input gradient is the next one's output gradient
            }
        }}
        guard needEmbeddingGradient else { return }
        // Embeddings: dropout → LayerNorm → scatter into the tables.
        if training && config.embeddingDropout > 0 {
            applyDropout(ws.gradOut, mask: ws.embeddingMask, count: N * H, scale: T(1 / (1 - config.embeddingDropout)))
        }
        ws.embeddingGradient.update(repeating: 0, count: N * H)
        layerNormBackward(dx: ws.embeddingGradient, dgamma: grad(outerNormGamma), dbeta: grad(outerNormBeta),
                          dout: ws.gradOut, x: ws.embeddingSum, mean: ws.embeddingMean, rstd: ws.embeddingRstd,
                          gamma: value(outerNormGamma), n: N, dim: H)
        scatterEmbeddingGradient(batch, ws: ws)
    }

    /// Adds ws.embeddingGradient (dL/d(embedding sum), (B·T, H)) of the real tokens into the
    /// word, position and type tables' gradients and marks the touched word rows.
    func scatterEmbeddingGradient(_ batch: TokenBatch, ws: Workspace<T>) {
        let B = ws.batch, T_ = ws.seqLen
        var realRows: [Int] = []
        realRows.reserveCapacity(B * T_)
        for b in 0..<B { for t in 0..<Int(batch.lengths[b]) { realRows.append(b * T_ + t) } }
        batch.ids.withUnsafeBufferPointer { ids in
        batch.positionIds.withUnsafeBufferPointer { positions in
        batch.typeIds.withUnsafeBufferPointer { types in
            embeddingBackward(dword: skipWordEmbeddingGradient ? nil : grad(wordEmbeddings),
                              dposition: grad(positionEmbeddings), dtype: typeEmbeddings.map { grad($0) },
                              dout: ws.embeddingGradient, ids: ids.baseAddress!, positions: positions.baseAddress!,
                              types: types.baseAddress!, rows: realRows, dim: config.hidden)
            if !skipWordEmbeddingGradient { for r in realRows { touchedWordRows[Int(ids[r])] = 1 } }
        }}}
    }

    // MARK: Sparse word-embedding gradient

    /// Arena range of the word-embedding table and its row length: only rows of tokens seen in
    /// a batch get gradient, so zeroing, clipping and AdamW skip the others exactly.
    public var wordEmbeddingTable: (range: Range<Int>, rowLength: Int) {
        (wordEmbeddings..<(wordEmbeddings + config.vocabularySize * config.hidden), config.hidden)
    }

    /// Zeroes every gradient. Word-embedding rows no backward touched since the last call are
    /// already zero and are skipped (the table is half of MiniLM's parameters).
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func zeroGradients() {
        let table = wordEmbeddingTable.range, H = config.hidden
        let g = parameters.gradients.baseAddress!
        Parallel.forRanges(table.lowerBound, grain: 1 << 16) { r in (g + r.lowerBound).update(repeating: 0, count: r.count) }
        Parallel.forRanges(parameters.count - table.upperBound, grain: 1 << 16) { r in
            (g + table.upperBound + r.lowerBound).update(repeating: 0, count: r.count)
        }
        for row in 0..<config.vocabularySize where touchedWordRows[row] != 0 {
            (g + table.lowerBound + row * H).update(repeating: 0, count: H)
            touchedWordRows[row] = 0
        }
    }

    /// Parts of `range` that can hold a nonzero gradient now: everything outside the word
    /// table plus its touched rows (consecutive rows merged).
    public func gradientRanges(within range: Range<Int>) -> [Range<Int>] {
        let (table, H) = wordEmbeddingTable
        guard range.overlaps(table) else { return [range] }
        var result: [Range<Int>] = []
        if range.lowerBound < table.lowerBound { result.append(range.lowerBound..<table.lowerBound) }
        var row = 0
        while row < config.vocabularySize {
            guard touchedWordRows[row] != 0 else { row += 1; continue }
            let start = row
            while row < config.vocabularySize && touchedWordRows[row] != 0 { row += 1 }
            let r = (table.lowerBound + start * H)..<(table.lowerBound + row * H)
            result.append(r.clamped(to: range))
        }
        if range.upperBound > table.upperBound { result.append(table.upperBound..<range.upperBound) }
        return result.filter { !$0.isEmpty }
    }

    /// When set, backward leaves the word-embedding gradient alone (the eNTK computes that
    /// part exactly from `embeddingGradient` rows instead of a dense 30k×H table).
    public var skipWordEmbeddingGradient = false

    /// dL/d(embedding sum) of the last backward, (B·T, H): row b·T + t is the gradient that
    /// flowed into word, position and type embedding rows of token t of example b.
    public var embeddingGradient: UnsafeBufferPointer<T> {
        UnsafeBufferPointer(start: workspace!.embeddingGradient, count: workspace!.batch * workspace!.seqLen * config.hidden)
    }

    /// Backward of one layer: ws.gradOut (rows of hidden[l+1]) → ws.gradIn (N, H) = dL/dhidden[l].
    func layerBackward(_ l: Int, ws: Workspace<T>, lengths: UnsafePointer<Int32>,
                       queryPositions: UnsafePointer<Int32>?, training: Bool,
                       hiddenScale: T, needInputGradient: Bool) {
        let o = layerOffsets[l], a = ws.layers[l]
        let H = config.hidden
        let rows = queryPositions == nil ? ws.batch * ws.seqLen : ws.batch
        let x = ws.hidden[l]
        let bb = trainBackbone
        let hiddenDrop = training && config.hiddenDropout > 0
        // LayerNorm 2 → residual (to h1) and dropout → feed-forward.
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


extension SequenceClassifier {
    /// Floating-point operations of one forward (and, with `training`, forward + backward) on a
    /// batch of B full-length sequences of T tokens, as this implementation performs them
    /// (pruned last layer; backbone and head gradients per the train flags).
    public func flops(batch B: Int, seqLen T_: Int, training: Bool) -> Double {
        let H = Double(config.hidden), I = Double(config.intermediate), T = Double(T_), b = Double(B)
        let heads = Double(config.heads), d = H / heads
        let rank = Double(lora?.rank ?? 0), loraCount = Double(lora?.targets.count ?? 0)
        var forward = 0.0, backward = 0.0
        for l in 0..<config.layers {
            let pruned = l == config.layers - 1
            let tokens = b * T, rows = pruned ? b : tokens, queries = pruned ? 1 : T
            let qkv = 2 * tokens * H * 3 * H
            let loraF = loraCount * 2 * tokens * rank * H * 2
            let attention = b * heads * queries * T * d * 4  // scores and context
            let dense = 2 * rows * H * H + 2 * rows * H * I * 2
            forward += qkv + loraF + attention + dense
            // Backward: dX and dW for every product (dW only when the backbone trains).
            let weightFactor = trainBackbone ? 2.0 : 1.0
            backward += (qkv + dense) * weightFactor + attention * 2 + loraF * 2
        }
        let head = 2 * b * H * Double(classes)
        return training ? forward + head + backward + 2 * head : forward + head
    }
}
