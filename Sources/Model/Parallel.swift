import Dispatch

/// Splits elementwise work (layer norm, GELU, softmax, optimizer loops) across the same number
/// of threads BLAS uses, so one rank never uses more cores than OPENBLAS_NUM_THREADS gives it.
/// Use it only where items are independent, so results never depend on the split.
public enum Parallel {
    /// Compute threads of this rank (OPENBLAS_NUM_THREADS, else all cores OpenBLAS sees).
    nonisolated(unsafe) public static var threads: Int = BLAS.startupThreads

    /// Runs body over consecutive ranges of `chunk` items covering 0..<count, in parallel.
    @inline(__always)
    public static func forRanges(_ count: Int, chunk: Int, _ body: (Range<Int>) -> Void) {
        let pieces = (count + chunk - 1) / max(chunk, 1)
        if pieces <= 1 || threads <= 1 {
            var start = 0
            while start < count { body(start..<min(count, start + chunk)); start += chunk }
            return
        }
        DispatchQueue.concurrentPerform(iterations: pieces) { p in
            body((p * chunk)..<min(count, (p + 1) * chunk))
        }
    }

    /// Runs body over disjoint ranges covering 0..<count; ranges hold at least `grain` items.
    @inline(__always)
    public static func forRanges(_ count: Int, grain: Int = 4096, _ body: (Range<Int>) -> Void) {
        let workers = min(threads, max(1, count / max(grain, 1)))
        if workers <= 1 { body(0..<count); return }
        let chunk = (count + workers - 1) / workers
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let start = w * chunk
            let end = min(count, start + chunk)
            if start < end { body(start..<end) }
        }
    }
}
