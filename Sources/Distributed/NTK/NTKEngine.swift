import Foundation
import Model

/// Seconds per phase of one rank, in a fixed phase order.
struct NTKTimings {
    static let phases = ["forward", "backward", "jacobian_copy", "gram", "exchange", "gather", "word_embeddings",
                         "checkpoint", "one_step", "analysis", "write"]
    var seconds = [Double](repeating: 0, count: phases.count)

    mutating func add(_ phase: String, _ value: Double) {
        guard let i = Self.phases.firstIndex(of: phase) else { preconditionFailure("unknown phase \(phase)") }
        seconds[i] += value
    }

    /// Seconds by phase name.
    var byPhase: [String: Double] { Dictionary(uniqueKeysWithValues: zip(Self.phases, seconds)) }

    /// Runs `body`, adding its wall time to `phase`.
    mutating func time<R>(_ phase: String, _ body: () throws -> R) rethrows -> R {
        let start = ProcessStats.now()
        defer { add(phase, ProcessStats.now() - start) }
        return try body()
    }
}

/// One chunk's result on a rank.
struct NTKChunkResult {
    /// This rank's tiles (float64 sums over its slabs), laid out as `plan.tileLayout(of: rank)`.
    var tiles: [Double]
    /// Every rank's word-embedding rows, on rank 0 (chunks that reach the embeddings only).
    var trainWords: SparseWordRows?
    var evalWords: SparseWordRows?
}

/// One rank's share of the eNTK: per-example Jacobian rows of its examples for one parameter
/// chunk at a time (slab-major, in the model's scalar type), the tiles they form (split by
/// rows: with the rank's own rows and its partners' rows; split by slabs: all ranks' rows of
/// the slabs the rank owns), and the float64 tile sums sent to rank 0.
final class NTKEngine<T: ModelScalar & MPIReducible> {
    let comm: Communicator
    let model: SequenceClassifier<T>
    let plan: NTKPlan
    let trainBatches: [TokenBatch], evalBatches: [TokenBatch]
    let trainRowCount: Int, evalRowCount: Int
    let gram = GramTiles<T>()
    var timings = NTKTimings()
    /// φ of the own examples from the last Jacobian pass, (count × H).
    private(set) var trainFeatures: [Double] = [], evalFeatures: [Double] = []

    /// Backbone kernels backpropagate stage by stage, from the boundary gradient the chunk
    /// above saved (each stage once per row over all chunks, a stage cut by a chunk boundary
    /// once per chunk that holds part of it); LoRA kernels run the full backward for every
    /// chunk (their factors sit in every block).
    private let staged: Bool
    /// The top backbone stage (its output gradient is dφ).
    private let topStage: Int
    private let maxChunk: Int
    private let trainBuffer: LargeBuffer<T>, evalBuffer: LargeBuffer<T>
    private var trainSlabs: UnsafeMutablePointer<T> { trainBuffer.pointer }
    private var evalSlabs: UnsafeMutablePointer<T> { evalBuffer.pointer }
    /// Split by rows: two buffers for a partner's slab, one being received while the other is multiplied.
    private var received: [UnsafeMutablePointer<T>]
    /// Split by slabs: `plan.gatherGroup` slots, each all ranks' train rows and all ranks' eval
    /// rows of one owned slab.
    private let gatherBuffer: LargeBuffer<T>?
    private var gatherSlots: [(train: UnsafeMutablePointer<T>, eval: UnsafeMutablePointer<T>)] = []
    /// Per own row (train rows, then eval rows): dL/dhidden at the next chunk's top stage.
    private var boundaries: UnsafeMutablePointer<T>
    private var boundaryOffsets: [Int] = []
    private var boundariesValid = false

    init(comm: Communicator, model: SequenceClassifier<T>, plan: NTKPlan, train: [Encoding], eval: [Encoding]) {
        self.comm = comm
        self.model = model
        self.plan = plan
        trainBatches = train.map { TokenBatch([$0], config: model.config) }
        evalBatches = eval.map { TokenBatch([$0], config: model.config) }
        trainRowCount = train.count * plan.classes
        evalRowCount = eval.count * plan.classes
        staged = plan.parameterSet == .backbone
        topStage = model.backboneStageRanges.count - 1
        maxChunk = (0..<plan.chunkCount).map { plan.chunk($0).count }.max() ?? 0
        trainBuffer = LargeBuffer(count: trainRowCount * maxChunk)
        evalBuffer = LargeBuffer(count: evalRowCount * maxChunk)
        let partnerRows = (0..<plan.worldSize).map { plan.trainRows(of: $0).count }.max() ?? 0
        let bySlabs = plan.gramSplit == .slabs
        received = (0..<(plan.worldSize > 1 && !bySlabs ? 2 : 0)).map { _ in .allocate(capacity: max(1, partnerRows * plan.slabWidth)) }
        let trainSlot = plan.trainCount * plan.classes * plan.slabWidth
        let slotSize = trainSlot + plan.evalCount * plan.classes * plan.slabWidth
        gatherBuffer = bySlabs ? LargeBuffer(count: plan.gatherGroup * slotSize) : nil
        if let gatherBuffer {
            gatherSlots = (0..<plan.gatherGroup).map { i in (gatherBuffer.pointer + i * slotSize, gatherBuffer.pointer + i * slotSize + trainSlot) }
        }
        var offset = 0
        for batch in trainBatches + evalBatches {
            for _ in 0..<plan.classes { boundaryOffsets.append(offset); offset += batch.seqLen * model.config.hidden }
        }
        boundaries = .allocate(capacity: max(1, staged ? offset : 1))
    }

    deinit {
        received.forEach { $0.deallocate() }
        boundaries.deallocate()
    }

    // MARK: Jacobian rows

    /// Fills the slabs of chunk k with the rank's Jacobian rows, collecting φ and (when the
    /// chunk reaches the embeddings) the sparse word-embedding rows.
    func jacobianPass(chunk k: Int) -> (train: SparseWordRows?, eval: SparseWordRows?) {
        let range = plan.chunk(k)
        let C = plan.classes, H = model.config.hidden
        let widths = plan.slabWidths(ofChunk: k)
        let gradients = model.parameters.gradients.baseAddress!
        let head = model.parameters.value("classifier.weight")
        // Stages this chunk's backward runs through, and the boundary the next chunk starts from.
        var top = topStage, bottom = 0, saveStage: Int? = nil
        if staged {
            let chunkTop = model.backboneStage(containing: range.upperBound - 1)!
            bottom = model.backboneStage(containing: range.lowerBound)!
            top = boundariesValid ? chunkTop : topStage
            if k + 1 < plan.chunkCount {
                let nextTop = model.backboneStage(containing: plan.chunk(k + 1).upperBound - 1)!
                if nextTop < topStage { saveStage = nextTop }
            }
        }
        // Several chunks may run stage 0; the word share is collected once, in the last chunk.
        let reachesEmbeddings = plan.parameterSet == .backbone && k == plan.chunkCount - 1
        var trainWords = reachesEmbeddings ? SparseWordRows(hidden: H) : nil
        var evalWords = reachesEmbeddings ? SparseWordRows(hidden: H) : nil
        trainFeatures = [Double](repeating: 0, count: trainBatches.count * H)
        evalFeatures = [Double](repeating: 0, count: evalBatches.count * H)
        let trainRowBase = plan.trainRows(of: comm.rank).lowerBound, evalRowBase = plan.evalRows(of: comm.rank).lowerBound

        // Backward ACCUMULATES: the chunk starts from zero and every copy leaves zeros behind.
        // Other parameters of the stages run collect sums nobody reads (they never feed dX).
        (gradients + range.lowerBound).update(repeating: 0, count: range.count)
        for (index, batch) in (trainBatches + evalBatches).enumerated() {
            let isTrain = index < trainBatches.count
            let example = isTrain ? index : index - trainBatches.count
            timings.time("forward") { model.forward(batch) }
            let phi = model.features
            for j in 0..<H {
                if isTrain { trainFeatures[example * H + j] = Double(phi[j]) } else { evalFeatures[example * H + j] = Double(phi[j]) }
            }
            for c in 0..<C {
                let ownRow = index * C + c
                let localRow = example * C + c
                timings.time("backward") {
                    if staged {
                        let boundary = boundaries + boundaryOffsets[ownRow]
                        let start = top == topStage ? UnsafePointer(head + c * H) : UnsafePointer(boundary)
                        model.backwardStages(startGradient: start, top: top, bottom: bottom,
                                             saveStage: saveStage, save: saveStage == nil ? nil : boundary)
                    } else {
                        model.backward(featureGradient: head + c * H)
                    }
                }
                if reachesEmbeddings {
                    timings.time("word_embeddings") {
                        let length = Int(batch.lengths[0])
                        let gradient = model.embeddingGradient.baseAddress!
                        if isTrain {
                            trainWords!.append(row: trainRowBase + localRow, ids: batch.ids[0..<length], gradient: gradient)
                        } else {
                            evalWords!.append(row: evalRowBase + localRow, ids: batch.ids[0..<length], gradient: gradient)
                        }
                    }
                }
                timings.time("jacobian_copy") {
                    // Move the chunk's gradient into the slabs, leaving zeros for the next backward.
                    let rows = isTrain ? trainRowCount : evalRowCount
                    let slabs = isTrain ? trainSlabs : evalSlabs, W = plan.slabWidth
                    Parallel.forRanges(widths.count, grain: 1) { slabRange in
                        for s in slabRange {
                            let source = gradients + range.lowerBound + s * W
                            (slabs + rows * s * W + localRow * widths[s]).update(from: source, count: widths[s])
                            source.update(repeating: 0, count: widths[s])
                        }
                    }
                }
            }
        }
        boundariesValid = saveStage != nil
        return (trainWords, evalWords)
    }

    // MARK: Tiles

    /// The rank's tiles of chunk k (float64 sums over its slabs), laid out as `plan.tileLayout(of:)`.
    func tiles(chunk k: Int) throws -> [Double] {
        plan.gramSplit == .slabs ? try slabTiles(chunk: k) : try rowTiles(chunk: k)
    }

    /// Split by slabs: in rounds of P consecutive slabs (one per owner) every rank sends its
    /// rows of each slab to the slab's owner, all at once; after `plan.gatherGroup` owned slabs
    /// the owner adds their share to the whole lower train×train triangle and eval×train matrix.
    /// Exchange and products alternate rather than overlap: copying on the core that multiplies
    /// costs the products more than the wait it would hide.
    private func slabTiles(chunk k: Int) throws -> [Double] {
        let widths = plan.slabWidths(ofChunk: k)
        let W = plan.slabWidth, rank = comm.rank, P = plan.worldSize
        let n = trainRowCount, m = evalRowCount
        let allTrain = plan.trainCount * plan.classes, allEval = plan.evalCount * plan.classes
        let firstOwner = plan.owner(chunk: k, slab: 0)
        // The whole lower train×train triangle (allTrain²) and eval×train (allEval × allTrain).
        let layout = plan.tileLayout(of: rank)
        let diagonal = layout.place(.trainTrain, partner: nil).offset, cross = layout.place(.evalTrain, partner: nil).offset
        var result = [Double](repeating: 0, count: layout.count)
        try result.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            var gathered: [(train: UnsafePointer<T>, eval: UnsafePointer<T>, width: Int)] = []
            func multiply() {
                timings.time("gram") {
                    gram.addDiagonal(gram: base + diagonal, n: allTrain, slabs: gathered.map(\.train), widths: gathered.map(\.width),
                                     eval: allEval > 0 ? (gathered.map(\.eval), allEval, base + cross) : nil)
                }
                gathered = []
            }
            for first in stride(from: 0, to: widths.count, by: P) {
                // Slab first + i belongs to rank (firstOwner + i) mod P.
                func slab(ownedBy owner: Int) -> Int? {
                    let s = first + (owner - firstOwner + P) % P
                    return s < widths.count ? s : nil
                }
                let mine = slab(ownedBy: rank)
                let slot = gatherSlots[gathered.count]
                for (own, all, count, slabs, target, tag) in [(n, allTrain, plan.trainRows, trainSlabs, slot.train, 72),
                                                              (m, allEval, plan.evalRows, evalSlabs, slot.eval, 73)] where all > 0 {
                    let outgoing = (0..<P).map { owner -> UnsafeBufferPointer<T> in
                        guard let s = slab(ownedBy: owner) else { return UnsafeBufferPointer(start: nil, count: 0) }
                        return UnsafeBufferPointer(start: slabs + own * s * W, count: own * widths[s])
                    }
                    // Rank q's rows land at their global row offset: the slot is the whole slab, row-major.
                    let incoming = (0..<P).map { q -> UnsafeMutableBufferPointer<T> in
                        guard let s = mine else { return UnsafeMutableBufferPointer(start: nil, count: 0) }
                        return UnsafeMutableBufferPointer(start: target + count(q).lowerBound * widths[s], count: count(q).count * widths[s])
                    }
                    try timings.time("exchange") { try comm.exchangeBlocks(outgoing, into: incoming, tag: tag) }
                }
                if let s = mine {
                    gathered.append((UnsafePointer(slot.train), UnsafePointer(slot.eval), widths[s]))
                    if gathered.count == gatherSlots.count { multiply() }
                }
            }
            if !gathered.isEmpty { multiply() }
        }
        return result
    }

    /// Split by rows: the diagonal tiles, then one pair tile per round with the partner's slabs,
    /// each where `plan.tileLayout(of:)` places it.
    private func rowTiles(chunk k: Int) throws -> [Double] {
        let widths = plan.slabWidths(ofChunk: k)
        let W = plan.slabWidth, rank = comm.rank
        let n = trainRowCount, m = evalRowCount
        let trainSlab = { (s: Int) in UnsafePointer(self.trainSlabs + n * s * W) }
        let evalSlab = { (s: Int) in UnsafePointer(self.evalSlabs + m * s * W) }
        let layout = plan.tileLayout(of: rank)
        var result = [Double](repeating: 0, count: layout.count)
        try result.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            // Diagonal: train Gram (SYRK, n × n) and eval × own train (m × n).
            let diagonal = layout.place(.trainTrain, partner: nil).offset, ownCross = layout.place(.evalTrain, partner: nil).offset
            timings.time("gram") {
                gram.addDiagonal(gram: base + diagonal, n: n, slabs: widths.indices.map(trainSlab), widths: widths,
                                 eval: m > 0 ? (widths.indices.map(evalSlab), m, base + ownCross) : nil)
            }
            for round in plan.rounds {
                let partner = round[rank]
                guard partner >= 0 else { continue }
                let partnerRows = plan.trainRows(of: partner).count
                // The train×train pair tile: my rows × the lower rank's rows (n or partnerRows
                // columns); eval × the partner's train rows.
                let (pair, pairOffset) = layout.place(.trainTrain, partner: partner)
                let (cross, crossOffset) = layout.place(.evalTrain, partner: partner)
                let pairRows = pair.rows
                let pairTile = base + pairOffset, crossTile = base + crossOffset
                // The lower rank needs only the first half of the higher rank's rows, unless it
                // has eval rows (eval × all of the partner's train rows).
                let sendRows = rank < partner || plan.evalRows(of: partner).count > 0
                    ? n : plan.pairTrainRows(rank: partner, partner: rank).count
                let receiveRows = rank > partner || m > 0 ? partnerRows : pairRows.count
                func exchangeSlab(_ s: Int) throws {
                    try timings.time("exchange") {
                        try exchange(slab: trainSlab(s), count: sendRows * widths[s], partner: partner,
                                     into: received[s % 2], receiveCount: receiveRows * widths[s])
                    }
                }
                // Double buffering: a worker thread multiplies slab s while this (the MPI) thread
                // swaps slab s + 1 with the partner.
                try exchangeSlab(0)
                for (s, w) in widths.enumerated() {
                    let incoming = UnsafePointer(received[s % 2]), own = trainSlab(s), ownEval = evalSlab(s)
                    let group = DispatchGroup()
                    var workerSeconds = 0.0
                    let multiply = UncheckedSendable { [gram, plan] in
                        let start = ProcessStats.now()
                        if rank < partner {
                            // First half of the partner's rows × my rows.
                            gram.addProduct(into: pairTile, ldc: pair.columns.count, a: incoming, lda: w, b: own, ldb: w,
                                            m: pairRows.count, n: n, k: w)
                        } else {
                            // The rest of my rows × the partner's rows.
                            let first = pairRows.lowerBound - plan.trainRows(of: rank).lowerBound
                            gram.addProduct(into: pairTile, ldc: pair.columns.count, a: own + first * w, lda: w,
                                            b: incoming, ldb: w, m: pairRows.count, n: partnerRows, k: w)
                        }
                        gram.addProduct(into: crossTile, ldc: cross.columns.count, a: ownEval, lda: w, b: incoming, ldb: w,
                                        m: m, n: partnerRows, k: w)
                        workerSeconds = ProcessStats.now() - start
                    }
                    DispatchQueue.global().async(group: group) { multiply.body() }
                    defer {
                        group.wait()
                        timings.add("gram", workerSeconds)
                    }
                    if s + 1 < widths.count { try exchangeSlab(s + 1) }
                }
            }
        }
        return result
    }

    /// Swaps one slab with the partner (send and receive at once; counts as the partner expects).
    private func exchange(slab: UnsafePointer<T>, count: Int, partner: Int, into buffer: UnsafeMutablePointer<T>,
                          receiveCount: Int) throws {
        // Both directions at once, waiting without spinning: the worker thread multiplying the
        // previous slab runs on this rank's core.
        try comm.exchange(UnsafeBufferPointer(start: slab, count: count),
                          into: UnsafeMutableBufferPointer(start: buffer, count: receiveCount), with: partner, tag: 71)
    }

    // MARK: One chunk, end to end

    /// Jacobian pass and tiles of chunk k; the word rows (when present) gathered to rank 0.
    /// The tiles stay on the rank: the assembly (NTKRun.collect) sends them to rank 0.
    func run(chunk k: Int) throws -> NTKChunkResult {
        let words = jacobianPass(chunk: k)
        var result = NTKChunkResult(tiles: try tiles(chunk: k))
        if let train = words.train, let eval = words.eval {
            try timings.time("gather") {
                result.trainWords = try gatherWords(train)
                result.evalWords = try gatherWords(eval)
            }
        }
        return result
    }

    private func gatherWords(_ words: SparseWordRows) throws -> SparseWordRows? {
        let rows = try comm.gatherv(words.rows)
        let tokens = try comm.gatherv(words.tokens)
        let vectors = try comm.gatherv(words.vectors)
        guard let rows, let tokens, let vectors else { return nil }
        return SparseWordRows(hidden: words.hidden, rows: rows, tokens: tokens, vectors: vectors)
    }
}

/// Hands a closure to a worker thread; the caller waits for it before touching what it uses.
struct UncheckedSendable: @unchecked Sendable {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}
