import XCTest
@testable import Model

/// Which OpenBLAS kernels lpft-mpi asks for when OpenBLAS mistakes the CPU for an old one.
final class BLASSetupTests: XCTestCase {
    let avx512: Set<Substring> = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
    let avx2: Set<Substring> = ["sse4_2", "avx", "avx2", "fma"]

    func testGenericDetectionOnNewCPUsGetsTheMatchingFamily() {
        XCTAssertEqual(BLAS.betterCoreType(environment: [:], detected: "Prescott", cpuFlags: avx512), "SkylakeX")
        XCTAssertEqual(BLAS.betterCoreType(environment: [:], detected: "Nehalem", cpuFlags: avx2), "Haswell")
        // AVX-512 without BW/VL (Knights Landing) is not a SkylakeX.
        XCTAssertEqual(BLAS.betterCoreType(environment: [:], detected: "Prescott",
                                           cpuFlags: avx2.union(["avx512f", "avx512cd"])), "Haswell")
    }

    func testAUsersChoiceOrASpecificFamilyStands() {
        XCTAssertNil(BLAS.betterCoreType(environment: ["OPENBLAS_CORETYPE": "Prescott"], detected: "Prescott", cpuFlags: avx512))
        XCTAssertNil(BLAS.betterCoreType(environment: [:], detected: "Zen", cpuFlags: avx2))
        XCTAssertNil(BLAS.betterCoreType(environment: [:], detected: "Haswell", cpuFlags: avx512))
        XCTAssertNil(BLAS.betterCoreType(environment: [:], detected: "Prescott", cpuFlags: ["sse3", "sse4_2", "avx"]))
    }

    func testProcessorFlagsAreRead() throws {
        let flags = try XCTUnwrap(BLAS.processorFlags(), "/proc/cpuinfo has a flags line on Linux")
        XCTAssertTrue(flags.contains("sse2"), "every x86-64 CPU has SSE2")
    }

    /// The compute threads of `Parallel` run at the process's nice value: libdispatch's workers
    /// alone run at nice 0 (here they saw 0 while the process had 3, before ThreadPriority).
    func testParallelWorkersTakeTheProcessNiceValue() throws {
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        let before = getpriority(which, id_t(getpid()))
        XCTAssertEqual(setpriority(which, id_t(getpid()), before + 3), 0, "lowering one's own priority is allowed")
        defer { _ = setpriority(which, id_t(getpid()), before) }  // allowed as root (CI); else the rest runs niced
        let saved = Parallel.threads
        Parallel.threads = 2
        defer { Parallel.threads = saved }
        let lock = NSLock()
        var seen: [(thread: pthread_t, nice: Int32)] = []
        Parallel.forRanges(16, chunk: 1) { _ in
            usleep(2_000)  // long enough that more than one thread takes pieces
            let nice = getpriority(which, 0)
            lock.lock(); seen.append((pthread_self(), nice)); lock.unlock()
        }
        XCTAssertEqual(seen.count, 16)
        XCTAssertGreaterThan(Set(seen.map { UInt($0.thread) }).count, 1, "the pieces ran on more than one thread")
        XCTAssertEqual(Set(seen.map(\.nice)), [before + 3], "every thread runs at the process's nice value")
    }
}
