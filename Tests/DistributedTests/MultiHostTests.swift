import Foundation
import XCTest
@testable import Distributed

/// Runs across 2–3 hosts made of network namespaces (scripts/netns-cluster.sh): MPI over TCP
/// between hosts, as on a cluster. These tests need root; without it they fail (never skip).
/// Each one tears its cluster down and checks that no namespace, file or process is left.
final class MultiHostTests: XCTestCase {
    override func setUpWithError() throws {
        addTeardownBlock {
            _ = try? NetnsCluster.script(["down"])
            XCTAssertEqual(NetnsCluster.leftovers(), [], "the harness left things behind")
        }
    }

    struct InfoReport: Decodable {
        var worldSize: Int
        var hosts: [String]
    }

    struct BenchReport: Decodable {
        struct Row: Decodable {
            var bytes: Int
            var iterations: Int
            var latency_us: Double
        }
        var world_size: Int
        var rows: [Row]
    }

    func testCollectivesAndAllreduceBenchAcrossTwoAndThreeHosts() throws {
        for hosts in [2, 3] {
            let cluster = try NetnsCluster(hosts: hosts)
            // One rank per host, each seeing its own host name.
            let info = try cluster.mpirun(np: hosts, ["info", "--json"])
            assertSucceeded(info, "info on \(hosts) hosts")
            let report = try JSONDecoder().decode(InfoReport.self, from: Data(info.stdout.utf8))
            XCTAssertEqual(report.worldSize, hosts)
            XCTAssertEqual(report.hosts, (1...hosts).map { "h\($0)" })

            let selftest = try cluster.mpirun(np: hosts, ["selftest", "comm", "--length", "301"])
            assertSucceeded(selftest, "selftest comm on \(hosts) hosts")
            XCTAssertTrue(selftest.stdout.contains("selftest comm: OK (ranks \(hosts),"), selftest.stdout)

            // The bench's traffic crosses h2's cable: every allreduce algorithm delivers each rank
            // at least (P−1)/P ≥ 1/2 of the message from the others.
            let before = try cluster.receivedBytes(host: 2)
            let bench = try cluster.mpirun(np: hosts, ["bench", "allreduce", "--min-bytes", "1048576", "--max-bytes", "4194304",
                                                       "--bytes-per-measurement", "8388608", "--json"])
            assertSucceeded(bench, "bench allreduce on \(hosts) hosts")
            let received = try cluster.receivedBytes(host: 2) - before
            let rows = try JSONDecoder().decode(BenchReport.self, from: Data(bench.stdout.utf8))
            XCTAssertEqual(rows.world_size, hosts)
            XCTAssertEqual(rows.rows.map(\.bytes), [1 << 20, 1 << 21, 1 << 22])
            XCTAssertTrue(rows.rows.allSatisfy { $0.latency_us > 0 })
            let timedBytes = rows.rows.reduce(0) { $0 + $1.bytes * $1.iterations }
            XCTAssertGreaterThan(received, timedBytes / 2, "h2 received too little for the bench to have run over its link")
            try cluster.down()
        }
    }

    func testStallDrillAcrossHostsNamesTheRankAndItsHost() throws {
        let cluster = try NetnsCluster(hosts: 3)
        let r = try cluster.mpirun(np: 3, ["selftest", "comm", "--stall-rank", "1", "--stall-after", "2", "--stall-timeout", "4"],
                                   timeout: 60)
        XCTAssertEqual(r.status, Communicator.stallExitCode, r.stderr)
        XCTAssertLessThan(r.seconds, 4 + 20)
        XCTAssertTrue(r.stderr.contains("""
            rank 0: stall: MPI_Allreduce(sum) of 1000 × float #3 at "selftest comm: allreduce round 2" \
            did not complete within 4 s; ranks not arrived: [1]
            """), r.stderr)
        XCTAssertTrue(r.stderr.contains("rank 0: stall:   rank 1 (h2) is outside MPI (its last collective was #2;"), r.stderr)
        XCTAssertTrue(r.stderr.contains("rank 0: stall: stopping the job (on h1)"), r.stderr)
        try cluster.down()
    }

    func testCableOutDuringAllreduceFiresTheStallDeadline() throws {
        let cluster = try NetnsCluster(hosts: 3)
        let run = try cluster.start(np: 3, ["selftest", "comm", "--rounds", "100000000", "--length", "262144",
                                            "--stall-timeout", "4"])
        XCTAssertTrue(run.waitForOutput("allreduce rounds running", timeout: 60), run.stderr)
        try NetnsCluster.script(["link", "h2", "down"])
        let pulled = Date()
        // Deadline 4 s, 2 s for answers, 2 s for the others to print, then mpirun gives up on
        // h2's daemon once TCP stops retrying (~13 s in the harness).
        let r = run.wait(timeout: 60)
        let seconds = Date().timeIntervalSince(pulled)
        print("cable out: exit \(r.status) \(String(format: "%.1f", seconds)) s after the link went down; stderr:\n\(r.stderr)")
        XCTAssertFalse(r.timedOut, r.stderr)
        XCTAssertEqual(r.status, Communicator.stallExitCode, r.stderr)
        XCTAssertLessThan(seconds, 4 + 30)
        XCTAssertTrue(r.stderr.contains("did not complete within 4 s; ranks not arrived: [1]"), r.stderr)
        XCTAssertTrue(r.stderr.contains("rank 1 (h2) did not answer"), r.stderr)
        try cluster.down()
    }

    func testKillingEveryProcessOfAHostStopsTheJobNamingIt() throws {
        let cluster = try NetnsCluster(hosts: 3)
        let run = try cluster.start(np: 3, ["selftest", "comm", "--rounds", "100000000", "--length", "262144",
                                            "--stall-timeout", "60"])
        XCTAssertTrue(run.waitForOutput("allreduce rounds running", timeout: 60), run.stderr)
        try NetnsCluster.script(["kill", "h3"])
        let killed = Date()
        let r = run.wait(timeout: 60)
        let seconds = Date().timeIntervalSince(killed)
        print("host killed: exit \(r.status) \(String(format: "%.1f", seconds)) s later; stderr:\n\(r.stderr)")
        XCTAssertFalse(r.timedOut)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertLessThan(seconds, 30)
        // OpenMPI stops the job before any deadline and names the lost host in one of the ways
        // seen here, depending on which of its processes notices first: "Remote daemon: … on node
        // h3", "Peer host:  h3", or a failed connect() to h3's address.
        let namesHost = r.stderr.range(of: #"(on node|Peer host:)\s+h3\b|10\.77\.0\.3:"#, options: .regularExpression) != nil
        XCTAssertTrue(namesHost, r.stderr)
        try cluster.down()
    }
}
