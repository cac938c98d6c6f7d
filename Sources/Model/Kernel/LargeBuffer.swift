import Foundation

/// A large buffer of anonymous memory with transparent huge pages requested (madvise), so
/// first touching gigabytes of Jacobian slabs costs thousands of page faults, not millions.
/// Contents start at zero. Falls back to an ordinary allocation where mmap fails.
public final class LargeBuffer<T> {
    public let pointer: UnsafeMutablePointer<T>
    public let count: Int
    private let mappedBytes: Int

    public init(count: Int) {
        self.count = count
        let bytes = max(1, count) * MemoryLayout<T>.stride
        if let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED {
            _ = madvise(raw, bytes, MADV_HUGEPAGE)
            pointer = raw.bindMemory(to: T.self, capacity: max(1, count))
            mappedBytes = bytes
        } else {
            pointer = .allocate(capacity: max(1, count))
            UnsafeMutableRawPointer(pointer).initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            mappedBytes = 0
        }
    }

    deinit {
        if mappedBytes > 0 { munmap(UnsafeMutableRawPointer(pointer), mappedBytes) } else { pointer.deallocate() }
    }
}
