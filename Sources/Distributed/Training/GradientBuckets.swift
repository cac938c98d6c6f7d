import Model

/// Averages the gradients of a data-parallel step over the ranks in buckets, as PyTorch DDP
/// and Horovod do. Backward reports the parameters it has finished with, top to bottom
/// (`SequenceClassifier.backward(onGradientsReady:)`); their trainable gradients fill a bucket
/// and, once it holds `bucketElements`, the bucket's sum starts in the background (MPIShim's
/// progress thread) while the layers below are still being differentiated. The word-embedding
/// table comes last: only the rows some rank touched travel, packed into one buffer, after the
/// union of the touched rows over the ranks.
///
/// With `overlap` off the same buckets start only after backward, in the same order: the same
/// MPI calls on the same data, so parameters are bit-identical either way.
public final class GradientBuckets {
    private let comm: Communicator
    private let model: SequenceClassifier<Float>
    private let trainable: Range<Int>
    private let bucketElements: Int
    public let overlap: Bool
    /// The bucket being filled: contiguous arena runs (backward goes down the arena, so a run
    /// usually grows downwards).
    private var filling: [Range<Int>] = []
    private var fillingCount = 0
    /// Buckets full but not started (overlap off).
    private var held: [[Range<Int>]] = []
    /// Every run handed to MPI this step (scaled by 1/P at the end).
    private var summed: [Range<Int>] = []
    /// The touched word-table rows of this step, packed; stays allocated between steps.
    private var packed: UnsafeMutableBufferPointer<Float>
    /// The first error of a bucket started inside backward (the hook cannot throw).
    private var startError: Error?

    /// - trainable: the arena range the optimizer updates; gradients outside it are not summed.
    /// - bucketBytes: bucket size (DDP's default: 25 MiB).
    public init(comm: Communicator, model: SequenceClassifier<Float>, trainable: Range<Int>, bucketBytes: Int, overlap: Bool) {
        self.comm = comm
        self.model = model
        self.trainable = trainable
        bucketElements = max(1, bucketBytes / MemoryLayout<Float>.stride)
        self.overlap = overlap
        packed = .allocate(capacity: trainable.overlaps(model.touchedRows.table) ? model.touchedRows.table.count : 0)
    }

    deinit { packed.deallocate() }

    /// backward's `onGradientsReady`: the dense trainable part of `finished` joins the bucket.
    public func gradientsReady(_ finished: [Range<Int>]) {
        let table = model.touchedRows.table
        for range in finished {
            let part = range.clamped(to: trainable)
            // The word table travels by rows, at the end.
            for piece in [part.lowerBound..<max(part.lowerBound, min(part.upperBound, table.lowerBound)),
                          min(part.upperBound, max(part.lowerBound, table.upperBound))..<part.upperBound] where !piece.isEmpty {
                append(piece)
            }
        }
    }

    /// After backward: starts what is left, sums the touched word-table rows, waits for every
    /// bucket and divides by the number of ranks. Returns the seconds spent waiting here (with
    /// overlap, the part of the communication that backward did not hide).
    public func finish() throws -> Double {
        let start = comm.wallTime()
        closeBucket()
        for bucket in held { startSums(bucket) }
        held.removeAll(keepingCapacity: true)
        if let startError { self.startError = nil; throw startError }
        let gradients = model.parameters.gradients
        let table = model.touchedRows.table.clamped(to: trainable)
        var rows: [Range<Int>] = []
        if !table.isEmpty {
            try model.touchedRows.formUnion(overRanks: { try comm.allreduceMax(&$0) })
            rows = model.touchedRows.gradientRanges(within: table)
            var offset = 0
            for piece in rows {
                UnsafeMutableBufferPointer(rebasing: packed[offset..<(offset + piece.count)])
                    .update(from: UnsafeBufferPointer(rebasing: gradients[piece]))
                offset += piece.count
            }
            try comm.startBucketSum(UnsafeMutableBufferPointer(rebasing: packed[0..<offset]))
        }
        try comm.waitForBucketSums()
        let scale = 1 / Float(comm.size)
        var offset = 0
        for piece in rows {
            let g = UnsafeMutableBufferPointer(rebasing: gradients[piece])
            for i in 0..<piece.count { g[i] = packed[offset + i] * scale }
            offset += piece.count
        }
        for piece in summed {
            let g = UnsafeMutableBufferPointer(rebasing: gradients[piece])
            Parallel.forRanges(g.count, grain: 1 << 15) { r in for i in r { g[i] *= scale } }
        }
        summed.removeAll(keepingCapacity: true)
        return comm.wallTime() - start
    }

    private func append(_ piece: Range<Int>) {
        if let last = filling.last, last.lowerBound == piece.upperBound {
            filling[filling.count - 1] = piece.lowerBound..<last.upperBound
        } else if let last = filling.last, last.upperBound == piece.lowerBound {
            filling[filling.count - 1] = last.lowerBound..<piece.upperBound
        } else {
            filling.append(piece)
        }
        fillingCount += piece.count
        if fillingCount >= bucketElements { closeBucket() }
    }

    private func closeBucket() {
        guard !filling.isEmpty else { return }
        if overlap { startSums(filling) } else { held.append(filling) }
        filling.removeAll(keepingCapacity: true)
        fillingCount = 0
    }

    private func startSums(_ bucket: [Range<Int>]) {
        let gradients = model.parameters.gradients
        for run in bucket {
            summed.append(run)
            guard startError == nil else { continue }
            do { try comm.startBucketSum(UnsafeMutableBufferPointer(rebasing: gradients[run])) } catch { startError = error }
        }
    }
}
