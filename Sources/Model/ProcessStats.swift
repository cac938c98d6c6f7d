import Foundation

/// Facts about this process that benchmarks and reports print (below: the large buffers whose
/// memory they report).
public enum ProcessStats {
    /// Peak resident memory (VmHWM) in MiB, or 0 where /proc is unavailable.
    public static func peakResidentMiB() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kb / 1024
        }
        return 0
    }

    /// Monotonic seconds.
    public static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}

// MARK: - Large buffers

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
