import XCTest
@testable import Distributed

/// The stall inspector on one host: `selftest comm --stall-rank R --stall-after K` makes rank R
/// sleep instead of entering allreduce round K (collective #K+1: the rounds are the job's only
/// collectives), so every other rank must report it and the job must stop with the stall code.
final class StallTests: XCTestCase {
    func testTwoRanksReportTheSleepingRankAndStop() throws {
        let r = try MPILauncher.run(np: 2, ["selftest", "comm", "--stall-rank", "1", "--stall-after", "3",
                                            "--stall-timeout", "5"], timeout: 60)
        print("stall drill np=2: exit \(r.status) after \(String(format: "%.1f", r.seconds)) s; stderr:\n\(r.stderr)")
        XCTAssertFalse(r.timedOut)
        XCTAssertEqual(r.status, Communicator.stallExitCode, r.stderr)
        XCTAssertLessThan(r.seconds, 5 + 20)
        XCTAssertTrue(r.stderr.contains("""
            rank 0: stall: MPI_Allreduce(sum) of 1000 × float #4 at "selftest comm: allreduce round 3" \
            did not complete within 5 s; ranks not arrived: [1]
            """), r.stderr)
        XCTAssertTrue(r.stderr.contains("rank 0: stall:   rank 1 ("), r.stderr)
        XCTAssertTrue(r.stderr.contains(") is outside MPI (its last collective was #3; context \"selftest comm: allreduce round 3\")"), r.stderr)
        // The sleeping rank can still speak: its inspector thread answers and says so.
        XCTAssertTrue(r.stderr.contains("rank 1: stall: rank 0 ("), r.stderr)
        XCTAssertTrue(r.stderr.contains("has not arrived: it is outside MPI"), r.stderr)
    }

    func testEveryWaitingRankOfThreeReports() throws {
        let r = try MPILauncher.run(np: 3, ["selftest", "comm", "--stall-rank", "2", "--stall-after", "5",
                                            "--stall-timeout", "4", "--length", "64"], timeout: 60)
        XCTAssertEqual(r.status, Communicator.stallExitCode, r.stderr)
        XCTAssertLessThan(r.seconds, 4 + 20)
        for rank in [0, 1] {
            XCTAssertTrue(r.stderr.contains("""
                rank \(rank): stall: MPI_Allreduce(sum) of 64 × float #6 at "selftest comm: allreduce round 5" \
                did not complete within 4 s; ranks not arrived: [2]
                """), r.stderr)
        }
    }

    func testAHealthyJobFinishesUnderAShortDeadline() throws {
        let r = try MPILauncher.run(np: 2, ["selftest", "comm", "--rounds", "200", "--stall-timeout", "2"], timeout: 60)
        assertSucceeded(r, "selftest comm with a 2 s stall deadline")
        XCTAssertTrue(r.stdout.contains("selftest comm: OK (ranks 2,"), r.stdout)
        XCTAssertFalse(r.stderr.contains("stall"), r.stderr)
    }

    func testANegativeDeadlineIsRefused() throws {
        let r = try MPILauncher.runSingle(["selftest", "comm", "--stall-timeout=-3"], timeout: 30)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--stall-timeout -3.0 is not valid: expected a finite number at least 0"), r.stderr)
    }
}
