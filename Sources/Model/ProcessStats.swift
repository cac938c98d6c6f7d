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

// MARK: - Thread priority

/// On Linux a nice value belongs to a thread, and libdispatch's worker threads run at their
/// QoS's priority (nice 0) whatever the process was started with. So that `nice lpft-mpi …`
/// holds for all our threads, work handed to such threads first takes the main thread's value.
public enum ThreadPriority {
    private static var which: __priority_which_t { __priority_which_t(PRIO_PROCESS.rawValue) }

    /// The main thread's nice value (what `nice`/`renice` gave the process); nil if unreadable.
    public static func processNice() -> Int32? {
        errno = 0
        let nice = getpriority(which, id_t(getpid()))
        return errno == 0 ? nice : nil
    }

    /// Gives the calling thread `nice`. Raising one's priority needs privileges; a failure
    /// leaves the thread as it was.
    public static func adopt(_ nice: Int32) { _ = setpriority(which, 0, nice) }

    /// The value each thread last adopted, so a thread that has it costs one TLS read.
    private static let adoptedKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// `adopt(nice)` unless this thread already adopted exactly that value.
    @inline(__always)
    public static func adoptOnce(_ nice: Int32) {
        let tag = UnsafeMutableRawPointer(bitPattern: Int(nice) + 1_000)  // nice ∈ [−20, 19]: never nil
        if pthread_getspecific(adoptedKey) == tag { return }
        adopt(nice)
        pthread_setspecific(adoptedKey, tag)
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
