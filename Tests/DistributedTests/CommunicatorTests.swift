import XCTest
@testable import Distributed

/// Multi-rank tests: each launches `lpft-mpi selftest comm` with mpirun, which checks exact
/// results of every collective on every rank and exits non-zero on any mismatch.
final class CommunicatorTests: XCTestCase {
    func testCollectivesAreExactOnOneTwoAndThreeRanks() throws {
        for np in [1, 2, 3] {
            let r = try MPILauncher.run(np: np, ["selftest", "comm", "--length", "301"], timeout: 120)
            assertSucceeded(r, "selftest comm np=\(np)")
            XCTAssertTrue(r.stdout.contains("selftest comm: OK (ranks \(np),"), r.stdout)
        }
    }

    func testChunkedPathsGiveTheSameExactResults() throws {
        // A chunk limit of 7 elements splits every call into many MPI calls and sends gatherv
        // and allgatherv through the point-to-point large-count path.
        for np in [1, 2, 3] {
            let r = try MPILauncher.run(np: np, ["selftest", "comm", "--length", "53", "--chunk-limit", "7"], timeout: 120)
            assertSucceeded(r, "chunked selftest comm np=\(np)")
            XCTAssertTrue(r.stdout.contains("selftest comm: OK (ranks \(np), chunk limit 7)"), r.stdout)
        }
    }

    func testRunsWithoutMpirunAsOneRank() throws {
        let r = try MPILauncher.runSingle(["selftest", "comm", "--length", "17"], timeout: 60)
        assertSucceeded(r, "selftest comm without mpirun")
        XCTAssertTrue(r.stdout.contains("OK (ranks 1,"))
    }

    func testAFailingRankStopsTheWholeJobQuickly() throws {
        // Rank 1 throws after 3 allreduces while rank 0 waits inside the 4th.
        let r = try MPILauncher.run(np: 2, ["selftest", "comm", "--fail-rank", "1", "--fail-after", "3"], timeout: 60)
        print("failing-rank drill: exit \(r.status) after \(String(format: "%.2f", r.seconds)) s; stderr:\n\(r.stderr)")
        XCTAssertFalse(r.timedOut)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("rank 1: selftest comm: injected failure on rank 1 at allreduce iteration 3"), r.stderr)
        XCTAssertLessThan(r.seconds, 30)
    }

    func testAFailingRankStopsThreeRanks() throws {
        let r = try MPILauncher.run(np: 3, ["selftest", "comm", "--fail-rank", "2", "--fail-after", "5"], timeout: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("rank 2: selftest comm: injected failure"), r.stderr)
        XCTAssertLessThan(r.seconds, 30)
    }
}
