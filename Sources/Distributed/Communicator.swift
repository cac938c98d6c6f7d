import Foundation
import MPIShim

/// An error returned by an MPI call, with OpenMPI's own text (MPI_Error_string).
public struct MPIError: Error, LocalizedError, CustomStringConvertible {
    public let code: Int32
    public let operation: String
    public let mpiMessage: String
    public var description: String { "MPI \(operation) failed (code \(code)): \(mpiMessage)" }
    public var errorDescription: String? { description }
}

/// Element types that can travel through the typed collectives.
public protocol MPIElement {
    static var mpiElementType: Int32 { get }
}
extension UInt8: MPIElement { public static var mpiElementType: Int32 { Int32(MPISHIM_BYTE) } }
extension Float: MPIElement { public static var mpiElementType: Int32 { Int32(MPISHIM_FLOAT) } }
extension Double: MPIElement { public static var mpiElementType: Int32 { Int32(MPISHIM_DOUBLE) } }
extension Int64: MPIElement { public static var mpiElementType: Int32 { Int32(MPISHIM_INT64) } }
extension Int32: MPIElement { public static var mpiElementType: Int32 { Int32(MPISHIM_INT32) } }

/// Elements that can be summed / maxed in place across ranks.
public protocol MPIReducible: MPIElement {}
extension Float: MPIReducible {}
extension Double: MPIReducible {}
extension Int64: MPIReducible {}
extension Int32: MPIReducible {}

/// The world communicator. One per process: `Communicator.world()` starts MPI on first use
/// (at least MPI_THREAD_FUNNELED). Run without mpirun, the program is a single rank.
/// Counts are 64-bit here; the shim splits calls above its chunk limit (INT_MAX by default).
public final class Communicator {
    public let rank: Int
    public let size: Int
    /// 0 single, 1 funneled, 2 serialized, 3 multiple.
    public let threadLevel: Int
    public var isRoot: Bool { rank == 0 }

    nonisolated(unsafe) private static var shared: Communicator?

    private init(rank: Int, size: Int, threadLevel: Int) {
        self.rank = rank
        self.size = size
        self.threadLevel = threadLevel
    }

    /// Starts MPI once and returns the world communicator.
    public static func world() throws -> Communicator {
        if let shared { return shared }
        var provided: Int32 = 0
        try check(mpishim_init(&provided), "MPI_Init_thread")
        let comm = Communicator(rank: Int(mpishim_rank()), size: Int(mpishim_size()),
                                threadLevel: Int(provided))
        shared = comm
        return comm
    }

    static func check(_ code: Int32, _ operation: @autoclosure () -> String) throws {
        guard code != 0 else { return }
        var text = [CChar](repeating: 0, count: 512)
        mpishim_error_string(code, &text, Int32(text.count))
        throw MPIError(code: code, operation: operation(), mpiMessage: String(cString: text))
    }

    // MARK: Environment

    public var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = mpishim_processor_name(&buffer, Int32(buffer.count))
        return String(cString: buffer)
    }

    public static var libraryVersion: String {
        var buffer = [CChar](repeating: 0, count: 8192)
        _ = mpishim_library_version(&buffer, Int32(buffer.count))
        return String(cString: buffer).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Seconds since an arbitrary point (MPI_Wtime).
    public func wallTime() -> Double { mpishim_wtime() }

    /// Lowers the largest element count per MPI call (tests use it to exercise chunking).
    public func setChunkLimit(_ elements: Int64?) { mpishim_set_chunk_limit(elements ?? 0) }
    public var chunkLimit: Int64 { mpishim_chunk_limit() }

    public func barrier() throws { try Self.check(mpishim_barrier(), "MPI_Barrier") }

    // MARK: Stall inspector

    /// Seconds any MPI operation of this communicator may take; nil (the default) means no
    /// deadline. When an operation runs past it, a background thread asks the other ranks
    /// where they are, prints on stderr
    /// `rank R: stall: <operation> #<n> at "<stallContext>" did not complete within S s; ranks not arrived: [..]`
    /// with one line per missing rank (host, what it is doing or that it did not answer), and
    /// stops the job with exit code `Communicator.stallExitCode`. Set it to the same value on
    /// every rank; it is local (no communication), so it can also change around a phase that
    /// legitimately keeps ranks waiting (see `withStallTimeout`).
    public var stallTimeout: Double? {
        get { let seconds = mpishim_stall_timeout(); return seconds > 0 ? seconds : nil }
        set { mpishim_set_stall_timeout(newValue.map { $0.isFinite && $0 > 0 ? $0 : 0 } ?? 0) }
    }

    /// Where the program is, quoted in stall reports, e.g. "FT epoch 2 step 37" or "ntk: chunk
    /// 3 of 8" (the stall report adds the collective's name and number). Callers set it before
    /// the collectives of each phase or step (cheap: a copy under a lock, at most 159 bytes kept).
    public var stallContext: String = "" {
        didSet { mpishim_set_stall_context(stallContext) }
    }

    /// The exit code of a job stopped by the stall inspector.
    public static let stallExitCode = Int32(MPISHIM_STALL_EXIT_CODE)

    /// Runs `body` with another stall timeout (nil: none), then restores the previous one;
    /// e.g. around a long rank-0-only phase that the other ranks wait out in a broadcast.
    public func withStallTimeout<Result>(_ seconds: Double?, _ body: () throws -> Result) rethrows -> Result {
        let previous = stallTimeout
        stallTimeout = seconds
        defer { stallTimeout = previous }
        return try body()
    }

    /// Stops every process of the job (MPI_Abort); callers print why first (`runJob`).
    public func abort(exitCode: Int32 = 1) -> Never {
        mpishim_abort(exitCode)
        exit(exitCode)
    }

    public func finalize() {
        if mpishim_is_initialized() != 0 && mpishim_is_finalized() == 0 { _ = mpishim_finalize() }
    }

    // MARK: Reductions (in place)

    /// An empty buffer still enters the shim (which then makes no MPI call), so every rank
    /// counts the collective alike for the stall inspector.
    public func allreduceSum<T: MPIReducible>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
        try Self.check(mpishim_allreduce_sum(buffer.baseAddress, Int64(buffer.count), T.mpiElementType),
                       "MPI_Allreduce(sum, \(buffer.count) × \(T.self))")
    }

    public func allreduceSum<T: MPIReducible>(_ array: inout [T]) throws {
        try array.withUnsafeMutableBufferPointer { try allreduceSum($0) }
    }

    public func allreduceSum<T: MPIReducible>(_ value: T) throws -> T {
        var a = [value]
        try allreduceSum(&a)
        return a[0]
    }

    /// Starts summing `buffer` over the ranks in place, in the background (gradient buckets):
    /// the buffer must stay untouched until `waitForBucketSums()`. Every rank starts the same
    /// sizes in the same order; the sums equal those of `allreduceSum` calls in that order.
    public func startBucketSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try Self.check(mpishim_buckets_start(buffer.baseAddress, Int64(buffer.count)),
                       "MPI_Iallreduce(sum, \(buffer.count) × Float) of a gradient bucket")
    }

    /// Whether buckets started from now on travel as bfloat16 (half the bytes; each addition
    /// rounded to bf16, the sums widened back to float) or as float32.
    public func setBucketSumsInBF16(_ enabled: Bool) { mpishim_buckets_set_bf16(enabled ? 1 : 0) }

    /// Returns once every bucket started since the last wait holds its sum.
    public func waitForBucketSums() throws {
        try Self.check(mpishim_buckets_wait(), "MPI_Iallreduce(sum) of gradient buckets")
    }

    public func allreduceMax<T: MPIReducible>(_ array: inout [T]) throws {
        let n = array.count
        try array.withUnsafeMutableBufferPointer {
            try Self.check(mpishim_allreduce_max($0.baseAddress, Int64(n), T.mpiElementType), "MPI_Allreduce(max)")
        }
    }

    public func allreduceMax<T: MPIReducible>(_ value: T) throws -> T {
        var a = [value]
        try allreduceMax(&a)
        return a[0]
    }

    public func allreduceMin<T: MPIReducible>(_ value: T) throws -> T {
        var a = [value]
        try a.withUnsafeMutableBufferPointer {
            try Self.check(mpishim_allreduce_min($0.baseAddress, 1, T.mpiElementType), "MPI_Allreduce(min)")
        }
        return a[0]
    }

    /// Replaces root's `buffer` by the sum of every rank's; the other ranks' buffers are only
    /// read. The additions happen in the same order every call for a given number of ranks
    /// (results repeat exactly); they may group differently for another number of ranks.
    public func reduceSum<T: MPIReducible>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int = 0) throws {
        try Self.check(mpishim_reduce_sum(buffer.baseAddress, Int64(buffer.count), T.mpiElementType, Int32(root)),
                       "MPI_Reduce(sum, \(buffer.count) × \(T.self) to rank \(root))")
    }

    public func reduceSum<T: MPIReducible>(_ array: inout [T], root: Int = 0) throws {
        try array.withUnsafeMutableBufferPointer { try reduceSum($0, root: root) }
    }

    // MARK: Broadcast

    public func broadcast<T: MPIElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int = 0) throws {
        guard buffer.count > 0 else { return }
        try Self.check(mpishim_bcast(buffer.baseAddress, Int64(buffer.count), T.mpiElementType, Int32(root)),
                       "MPI_Bcast(\(buffer.count) × \(T.self) from rank \(root))")
    }

    /// Broadcasts an array whose length only the root knows; returns root's array on every rank.
    public func broadcast<T: MPIElement>(_ array: [T], root: Int = 0) throws -> [T] {
        var count = [Int64(rank == root ? array.count : 0)]
        try count.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
        if rank == root {
            // MPI_Bcast only reads the root's buffer: send the array itself rather than a copy.
            try array.withUnsafeBufferPointer { try broadcast(UnsafeMutableBufferPointer(mutating: $0), root: root) }
            return array
        }
        var result = [T](unsafeUninitializedCapacity: Int(count[0])) { _, n in n = Int(count[0]) }
        try result.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
        return result
    }

    /// Broadcasts bytes (e.g. an encoded JSON message) from root.
    public func broadcast(bytes: Data, root: Int = 0) throws -> Data {
        Data(try broadcast([UInt8](bytes), root: root))
    }

    /// Broadcasts a string from root.
    public func broadcast(string: String, root: Int = 0) throws -> String {
        String(decoding: try broadcast(bytes: Data(string.utf8), root: root), as: UTF8.self)
    }

    // MARK: Gather

    /// Every rank's element count, in rank order, known on every rank.
    public func allCounts(_ localCount: Int) throws -> [Int64] {
        var counts = [Int64](repeating: 0, count: size)
        counts[rank] = Int64(localCount)
        try allreduceSum(&counts)
        return counts
    }

    private static func displacements(_ counts: [Int64]) -> [Int64] {
        var d = [Int64](repeating: 0, count: counts.count)
        for r in 1..<max(counts.count, 1) { d[r] = d[r - 1] + counts[r - 1] }
        return d
    }

    /// Concatenation of every rank's `local` in rank order on `root`; nil elsewhere.
    public func gatherv<T: MPIElement>(_ local: [T], root: Int = 0) throws -> [T]? {
        let counts = try allCounts(local.count)
        let displs = Self.displacements(counts)
        let total = Int(counts.reduce(0, +))
        var result = [T](unsafeUninitializedCapacity: rank == root ? total : 0) { _, n in n = rank == root ? total : 0 }
        try local.withUnsafeBufferPointer { send in
            try result.withUnsafeMutableBufferPointer { recv in
                try Self.check(mpishim_gatherv(send.baseAddress, Int64(local.count), recv.baseAddress,
                                               counts, displs, T.mpiElementType, Int32(root)),
                               "MPI_Gatherv(\(total) × \(T.self) to rank \(root))")
            }
        }
        return rank == root ? result : nil
    }

    /// Every rank's `value` in rank order on `root` (as JSON on the wire); nil elsewhere.
    public func gather<V: Codable>(_ value: V, root: Int = 0) throws -> [V]? {
        let bytes = [UInt8](try JSONEncoder().encode(value))
        let counts = try allCounts(bytes.count)
        guard let all = try gatherv(bytes, root: root) else { return nil }
        let decoder = JSONDecoder()
        var start = 0
        return try counts.map { count in
            defer { start += Int(count) }
            return try decoder.decode(V.self, from: Data(all[start..<(start + Int(count))]))
        }
    }

    /// Concatenation of every rank's `local` in rank order, on every rank.
    public func allgatherv<T: MPIElement>(_ local: [T]) throws -> [T] {
        let counts = try allCounts(local.count)
        let displs = Self.displacements(counts)
        let total = Int(counts.reduce(0, +))
        var result = [T](unsafeUninitializedCapacity: total) { _, n in n = total }
        try local.withUnsafeBufferPointer { send in
            try result.withUnsafeMutableBufferPointer { recv in
                try Self.check(mpishim_allgatherv(send.baseAddress, Int64(local.count), recv.baseAddress,
                                                  counts, displs, T.mpiElementType),
                               "MPI_Allgatherv(\(total) × \(T.self))")
            }
        }
        return result
    }

    // MARK: Point to point

    public func send<T: MPIElement>(_ buffer: UnsafeBufferPointer<T>, to dest: Int, tag: Int = 0) throws {
        try Self.check(mpishim_send(buffer.baseAddress, Int64(buffer.count), T.mpiElementType, Int32(dest), Int32(tag)),
                       "MPI_Send(\(buffer.count) × \(T.self) to rank \(dest))")
    }

    public func recv<T: MPIElement>(_ buffer: UnsafeMutableBufferPointer<T>, from source: Int, tag: Int = 0) throws {
        try Self.check(mpishim_recv(buffer.baseAddress, Int64(buffer.count), T.mpiElementType, Int32(source), Int32(tag)),
                       "MPI_Recv(\(buffer.count) × \(T.self) from rank \(source))")
    }

    /// Sends `outgoing` to `peer` while receiving `incoming` from it; the peer calls it with the
    /// buffers the other way round. Waits without spinning (a compute thread may share the core).
    public func exchange<T: MPIElement>(_ outgoing: UnsafeBufferPointer<T>, into incoming: UnsafeMutableBufferPointer<T>,
                                        with peer: Int, tag: Int = 0) throws {
        try Self.check(mpishim_exchange(outgoing.baseAddress, Int64(outgoing.count), incoming.baseAddress,
                                        Int64(incoming.count), T.mpiElementType, Int32(peer), Int32(tag)),
                       "MPI_Isend/MPI_Irecv(\(outgoing.count) / \(incoming.count) × \(T.self) with rank \(peer))")
    }

    /// All to all with one block per rank: `outgoing[r]` goes to rank r, rank r's block for
    /// this rank arrives in `incoming[r]` (own block copied). Each count must match the
    /// partner's; empty blocks are not sent. Waits without spinning, as `exchange`.
    public func exchangeBlocks<T: MPIElement>(_ outgoing: [UnsafeBufferPointer<T>], into incoming: [UnsafeMutableBufferPointer<T>],
                                              tag: Int = 0) throws {
        precondition(outgoing.count == size && incoming.count == size, "exchangeBlocks: one block per rank")
        let sendPointers = outgoing.map { UnsafeRawPointer($0.baseAddress) }
        let receivePointers = incoming.map { UnsafeMutableRawPointer($0.baseAddress) }
        try Self.check(mpishim_exchange_blocks(sendPointers, outgoing.map { Int64($0.count) }, receivePointers,
                                               incoming.map { Int64($0.count) }, T.mpiElementType, Int32(tag)),
                       "MPI_Isend/MPI_Irecv block exchange (\(outgoing.reduce(0) { $0 + $1.count }) out, "
                           + "\(incoming.reduce(0) { $0 + $1.count }) in × \(T.self))")
    }

    public func send<T: MPIElement>(_ array: [T], to dest: Int, tag: Int = 0) throws {
        try array.withUnsafeBufferPointer { try send($0, to: dest, tag: tag) }
    }

    public func recv<T: MPIElement>(count: Int, from source: Int, tag: Int = 0) throws -> [T] {
        var result = [T](unsafeUninitializedCapacity: count) { _, n in n = count }
        try result.withUnsafeMutableBufferPointer { try recv($0, from: source, tag: tag) }
        return result
    }

    // MARK: Benchmark baseline

    /// Mean seconds per in-place float allreduce measured entirely in C (no Swift in the loop).
    public func rawAllreduceSeconds(_ buffer: UnsafeMutableBufferPointer<Float>, warmup: Int, iterations: Int) throws -> Double {
        let s = mpishim_bench_allreduce_raw(buffer.baseAddress, Int64(buffer.count), Int32(warmup), Int32(iterations))
        if s < 0 { throw MPIError(code: -1, operation: "raw MPI_Allreduce benchmark", mpiMessage: "an MPI call failed") }
        return s
    }
}
