/// Which part of the classifier a parameter belongs to. The arena is laid out backbone, then
/// LoRA, then head, so every training method's trainable set is one contiguous suffix.
public enum ParameterGroup: String, Codable, Sendable, Comparable {
    case backbone, lora, head
    private var order: Int { self == .backbone ? 0 : self == .lora ? 1 : 2 }
    public static func < (a: Self, b: Self) -> Bool { a.order < b.order }
}

/// One named tensor inside the arena.
public struct ParameterEntry: Sendable {
    public let name: String
    public let shape: [Int]
    public let group: ParameterGroup
    /// Offset of the first element in the arena.
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<(offset + count) }
}

/// All parameters in one contiguous arena and their gradients in a twin arena of the same
/// layout (llm.c style): allreduce, clipping and AdamW each become one loop over a buffer.
public final class ParameterStore<T: ModelScalar> {
    public let entries: [ParameterEntry]
    private let index: [String: Int]
    public let values: UnsafeMutableBufferPointer<T>
    public let gradients: UnsafeMutableBufferPointer<T>

    /// Lays out `tensors` in the given order (callers order them backbone, LoRA, head), zeroed.
    public init(_ tensors: [(name: String, shape: [Int], group: ParameterGroup)]) {
        var entries: [ParameterEntry] = []
        var offset = 0
        for t in tensors {
            precondition(entries.last.map { $0.group <= t.group } ?? true, "parameters must be ordered backbone, lora, head")
            entries.append(ParameterEntry(name: t.name, shape: t.shape, group: t.group, offset: offset))
            offset += t.shape.reduce(1, *)
        }
        self.entries = entries
        var index: [String: Int] = [:]
        for (i, e) in entries.enumerated() { index[e.name] = i }
        self.index = index
        values = .allocate(capacity: max(offset, 1))
        values.initialize(repeating: 0)
        gradients = .allocate(capacity: max(offset, 1))
        gradients.initialize(repeating: 0)
    }

    deinit {
        values.deallocate()
        gradients.deallocate()
    }

    public var count: Int { entries.last.map { $0.offset + $0.count } ?? 0 }

    public func entry(_ name: String) -> ParameterEntry? { index[name].map { entries[$0] } }

    public func offset(_ name: String) -> Int {
        guard let e = entry(name) else { preconditionFailure("no parameter named \(name)") }
        return e.offset
    }

    public func value(_ name: String) -> UnsafeMutablePointer<T> { values.baseAddress! + offset(name) }

    /// Arena range of the given groups; they must form a contiguous run of the layout.
    public func range(of groups: Set<ParameterGroup>) -> Range<Int> {
        let selected = entries.filter { groups.contains($0.group) }
        guard let first = selected.first, let last = selected.last else { return count..<count }
        return first.offset..<(last.offset + last.count)
    }
}

/// The rows of the word-embedding table that hold gradient. Only the tokens of a batch give
/// their rows a gradient, so zeroing, the gradient allreduce, clipping and AdamW can skip the
/// other rows exactly: for MiniLM the table is half of the arena and a batch touches a few
/// hundred of its 30,522 rows. The classifier's backward marks rows and `zeroGradients()`
/// clears them; AdamW keeps a second set, of the rows any step touched.
public final class TouchedRows {
    /// Arena range of the table, and its row length (H).
    public let table: Range<Int>
    public let rowLength: Int
    /// Per table row: 1 when touched.
    public private(set) var flags: [UInt8]
    /// The flags as the union over ranks reduces them, kept to avoid an allocation per step.
    private var reduced: [Int32]

    public init(table: Range<Int>, rowLength: Int) {
        precondition(rowLength > 0 && table.count % rowLength == 0, "the table must hold whole rows")
        self.table = table
        self.rowLength = rowLength
        flags = [UInt8](repeating: 0, count: table.count / rowLength)
        reduced = [Int32](repeating: 0, count: flags.count)
    }

    func mark(_ row: Int) { flags[row] = 1 }

    public func removeAll() {
        flags.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// Adds the rows touched in `other` (a set over the same table).
    public func formUnion(_ other: TouchedRows) {
        precondition(other.table == table && other.rowLength == rowLength, "touched rows of different tables")
        for (row, touched) in other.flags.enumerated() where touched != 0 { flags[row] = 1 }
    }

    /// Makes the rows the union over the ranks of a data-parallel job. Model has no MPI, so the
    /// caller reduces: `allreduceMax` gets this rank's rows as 0/1 flags and must replace them
    /// by their maximum over the ranks (every rank calls it, as any collective).
    public func formUnion(overRanks allreduceMax: (inout [Int32]) throws -> Void) rethrows {
        for (row, touched) in flags.enumerated() { reduced[row] = Int32(touched) }
        try allreduceMax(&reduced)
        for (row, touched) in reduced.enumerated() { flags[row] = UInt8(touched) }
    }

    /// Replaces the rows by `flags` (a checkpoint's).
    public func restore(_ flags: [UInt8]) {
        precondition(flags.count == self.flags.count, "touched rows of a different table")
        self.flags = flags
    }

    /// The parts of the arena `range` that can hold a nonzero gradient: everything outside the
    /// table plus its touched rows (consecutive rows merged), in arena order.
    public func gradientRanges(within range: Range<Int>) -> [Range<Int>] {
        guard range.overlaps(table) else { return [range] }
        var result: [Range<Int>] = []
        if range.lowerBound < table.lowerBound { result.append(range.lowerBound..<table.lowerBound) }
        var row = 0
        while row < flags.count {
            guard flags[row] != 0 else { row += 1; continue }
            let start = row
            while row < flags.count && flags[row] != 0 { row += 1 }
            result.append(((table.lowerBound + start * rowLength)..<(table.lowerBound + row * rowLength)).clamped(to: range))
        }
        if range.upperBound > table.upperBound { result.append(table.upperBound..<range.upperBound) }
        return result.filter { !$0.isEmpty }
    }
}
