import Model

/// Averages the gradients of a data-parallel step over the ranks in buckets, as PyTorch DDP
/// and Horovod do. Backward reports the parameters it has finished with, top to bottom
/// (`SequenceClassifier.backward(onGradientsReady:)`: the head, then each stage); a bucket's
/// sum starts in the background (MPIShim's progress thread) as soon as backward has finished
/// every part of it, while the layers below are still being differentiated. The word-embedding
/// table comes last: only the rows some rank touched travel, packed into one buffer, after the
/// union of the touched rows over the ranks.
///
/// The buckets are planned once, from the model's layout alone, so every rank sums the same
/// buffers in the same order — also a rank without examples in a step, which calls only
/// `finish()`. With `overlap` off every bucket starts in `finish()`: the same MPI calls on the
/// same data, so the parameters are bit-identical either way.
public final class GradientBuckets {
    private let comm: Communicator
    private let model: SequenceClassifier<Float>
    private let trainable: Range<Int>
    public let overlap: Bool
    /// What backward reports, in its order: the head, then the stages from the top down.
    /// `gradientsReady` finds a report by equality, so these are exactly the arrays backward
    /// passes (`[model.headRange]`, `model.stageGradientRanges[s]`); a report not found starts
    /// nothing, and `finish()` then starts the rest (slower, never wrong).
    private let reports: [[Range<Int>]]
    /// Per bucket: contiguous arena runs, and the index in `reports` after which all are final.
    private let buckets: [(runs: [Range<Int>], readyAfter: Int)]
    /// Buckets started this step.
    private var started = 0
    /// The touched word-table rows of this step, packed; stays allocated between steps.
    private var packed: UnsafeMutableBufferPointer<Float>
    /// The first error of a bucket started inside backward (the hook cannot throw).
    private var startError: Error?

    /// - trainable: the arena range the optimizer updates; gradients outside it are not summed.
    /// - bucketBytes: bucket size (DDP's default: 25 MiB); a bucket closes once it holds as
    ///   much (or at the end).
    /// - wire: f32, or bf16 (half the bytes, each sum rounded to bf16; as DDP's bf16_compress_hook).
    public init(comm: Communicator, model: SequenceClassifier<Float>, trainable: Range<Int>, bucketBytes: Int, overlap: Bool,
                wire: WireType = .f32) {
        comm.setBucketSumsInBF16(wire == .bf16)
        self.comm = comm
        self.model = model
        self.trainable = trainable
        self.overlap = overlap
        let table = model.touchedRows.table
        reports = [[model.headRange]] + model.stageGradientRanges.reversed()
        let limit = max(1, bucketBytes / MemoryLayout<Float>.stride)
        var buckets: [(runs: [Range<Int>], readyAfter: Int)] = []
        var runs: [Range<Int>] = [], count = 0
        for (index, ranges) in reports.enumerated() {
            for range in ranges {
                let part = range.clamped(to: trainable)
                // The dense part only: the word table travels by rows, at the end.
                for piece in [part.lowerBound..<max(part.lowerBound, min(part.upperBound, table.lowerBound)),
                              min(part.upperBound, max(part.lowerBound, table.upperBound))..<part.upperBound] where !piece.isEmpty {
                    if let last = runs.last, last.lowerBound == piece.upperBound {
                        runs[runs.count - 1] = piece.lowerBound..<last.upperBound
                    } else if let last = runs.last, last.upperBound == piece.lowerBound {
                        runs[runs.count - 1] = last.lowerBound..<piece.upperBound
                    } else {
                        runs.append(piece)
                    }
                    count += piece.count
                }
            }
            if count >= limit || (index == reports.count - 1 && count > 0) {
                buckets.append((runs, index))
                runs = []; count = 0
            }
        }
        self.buckets = buckets
        packed = .allocate(capacity: trainable.overlaps(table) ? table.count : 0)
    }

    deinit { packed.deallocate() }

    /// backward's `onGradientsReady`: starts every bucket that is now final (with overlap).
    public func gradientsReady(_ finished: [Range<Int>]) {
        guard overlap, let index = reports.firstIndex(of: finished) else { return }
        while started < buckets.count && buckets[started].readyAfter <= index {
            startBucket(started)
            started += 1
        }
    }

    /// After backward (or instead of it, on a rank without examples this step): starts the
    /// buckets not started yet, sums the touched word-table rows, waits for every bucket and
    /// divides by the number of ranks. Returns the seconds spent here (with overlap, the part
    /// of the communication that backward did not hide).
    public func finish() throws -> Double {
        let start = comm.wallTime()
        while started < buckets.count { startBucket(started); started += 1 }
        started = 0
        if let startError { self.startError = nil; throw startError }
        let gradients = model.parameters.gradients
        let table = model.touchedRows.table.clamped(to: trainable)
        var rows: [Range<Int>] = []
        if !table.isEmpty {
            try model.touchedRows.formUnion(overRanks: { try comm.allreduceMax(&$0) })
            rows = model.touchedRows.gradientRanges(within: table)
            var offset = 0
            for piece in rows {
                _ = UnsafeMutableBufferPointer(rebasing: packed[offset..<(offset + piece.count)])
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
        for bucket in buckets {
            for run in bucket.runs {
                let g = UnsafeMutableBufferPointer(rebasing: gradients[run])
                Parallel.forRanges(g.count, grain: 1 << 15) { r in for i in r { g[i] *= scale } }
            }
        }
        return comm.wallTime() - start
    }

    private func startBucket(_ index: Int) {
        guard startError == nil else { return }
        let gradients = model.parameters.gradients
        do {
            for run in buckets[index].runs { try comm.startBucketSum(UnsafeMutableBufferPointer(rebasing: gradients[run])) }
        } catch { startError = error }
    }
}
