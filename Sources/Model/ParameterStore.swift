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
    public func gradient(_ name: String) -> UnsafeMutablePointer<T> { gradients.baseAddress! + offset(name) }

    /// Arena range of the given groups; they must form a contiguous run of the layout.
    public func range(of groups: Set<ParameterGroup>) -> Range<Int> {
        let selected = entries.filter { groups.contains($0.group) }
        guard let first = selected.first, let last = selected.last else { return count..<count }
        return first.offset..<(last.offset + last.count)
    }

    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func zeroGradients() {
        Parallel.forRanges(count, grain: 1 << 16) { r in
            (gradients.baseAddress! + r.lowerBound).update(repeating: 0, count: r.count)
        }
    }

    /// Copies every value from another store with the same layout.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func copyValues(from other: ParameterStore<T>) {
        precondition(other.count == count)
        values.baseAddress!.update(from: other.values.baseAddress!, count: count)
    }
}
