import Foundation
import XCTest
@testable import Distributed
import Model

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
        _ = try killHostAndExpectTheJobToStop(run, host: 3, during: "allreduce rounds")
        try cluster.down()
    }

    /// Kills every process of host `host`, then checks that the job stopped non-zero within 30 s
    /// naming the host. It is named in one of the ways seen here, depending on which process
    /// notices first: OpenMPI's "Remote daemon: … on node hN", "Peer host:  hN" or a failed
    /// connect() to hN's address, or — when mpirun first sees its launch agent end and reports only
    /// "ORTE was unable to reliably start one or more daemons" — the agent's own line, which ssh
    /// prints too when a host's processes die: "Connection to hN closed by remote host."
    @discardableResult
    func killHostAndExpectTheJobToStop(_ run: BackgroundRun, host: Int, during what: String,
                                       file: StaticString = #filePath, line: UInt = #line) throws -> MPILauncher.Result {
        try NetnsCluster.script(["kill", "h\(host)"])
        let killed = Date()
        let r = run.wait(timeout: 60)
        let seconds = Date().timeIntervalSince(killed)
        print("h\(host) killed during \(what): exit \(r.status) \(String(format: "%.1f", seconds)) s later; stderr:\n\(r.stderr)")
        XCTAssertFalse(r.timedOut, r.stderr, file: file, line: line)
        XCTAssertNotEqual(r.status, 0, "\(what) finished before h\(host) was killed; make it longer", file: file, line: line)
        XCTAssertLessThan(seconds, 30, file: file, line: line)
        let namesHost = r.stderr.range(of: #"(on node|Peer host:|Connection to)\s+h\#(host)\b|10\.77\.0\.\#(host):"#, options: .regularExpression) != nil
        XCTAssertTrue(namesHost, r.stderr, file: file, line: line)
        return r
    }

    // MARK: Training and kernels across hosts

    /// Tiny model and data shared by the training and kernel tests (namespaces share the file system).
    struct TinyRun {
        let work: URL, model: URL
        let data: (train: URL, validation: URL, test: URL)
        let examples: URL

        init() throws {
            work = try TinyFixtures.temporaryDirectory("multihost")
            model = work.appendingPathComponent("model")
            try TinyFixtures.writeModel(to: model)
            data = try TinyFixtures.writeData(to: work, train: 48)
            var rng = RandomGenerator(seed: 21)
            let lines = try (0..<18).map { _ -> String in
                let s = TinyFixtures.sentence(&rng)
                return String(decoding: try JSONSerialization.data(withJSONObject: ["text": s.text, "label": s.label]), as: UTF8.self)
            }
            examples = work.appendingPathComponent("kernel.jsonl")
            try (lines.joined(separator: "\n") + "\n").write(to: examples, atomically: true, encoding: .utf8)
        }

        func train(_ method: String, out: URL, _ extra: [String] = []) -> [String] {
            ["train", "--method", method, "--out", out.path, "--quiet"] + TinyFixtures.dataArguments(model: model, data: data) + extra
        }

        func ntk(out: URL) -> [String] {
            ["ntk", "--model", model.path, "--examples", examples.path, "--method", "lp-ft", "--out", out.path,
             "--chunk-parameters", "400", "--slab-width", "100"]
        }
    }

    static func stepLosses(_ dir: URL) throws -> [Double] {
        try String(contentsOf: dir.appendingPathComponent("steps.jsonl"), encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap((JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["loss"] as? Double)
        }
    }

    static func metrics(_ dir: URL) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("metrics.json"))) as? [String: Any])
    }

    static func number(_ object: [String: Any], _ path: [String]) -> Double? {
        var current: Any = object
        for key in path { guard let next = (current as? [String: Any])?[key] else { return nil }; current = next }
        return current as? Double
    }

    /// `train` (all five methods) and `ntk` on 2 and 3 hosts give what the same number of ranks
    /// gives on one host: per-step loss within 1e-4 relative, kernels within 1e-6 relative.
    func testTrainAndNTKAcrossHostsEqualOneHost() throws {
        let tiny = try TinyRun()
        defer { try? FileManager.default.removeItem(at: tiny.work) }
        let options = ["--epochs", "2", "--batch-size", "6", "--dropout", "0", "--lr", "1e-3"]
        for hosts in [2, 3] {
            let cluster = try NetnsCluster(hosts: hosts)
            for method in ["lp", "ft", "lp-ft", "lora", "lp-lora"] {
                let local = tiny.work.appendingPathComponent("\(method)-\(hosts)-local")
                let spread = tiny.work.appendingPathComponent("\(method)-\(hosts)-hosts")
                assertSucceeded(try MPILauncher.run(np: hosts, tiny.train(method, out: local, options), timeout: 120),
                                "\(method) on one host, np \(hosts)")
                assertSucceeded(try cluster.mpirun(np: hosts, tiny.train(method, out: spread, options)), "\(method) on \(hosts) hosts")
                // LP has no optimizer steps: its head and metrics are compared below.
                let a = method == "lp" ? [] : try Self.stepLosses(local), b = method == "lp" ? [] : try Self.stepLosses(spread)
                XCTAssertEqual(a.count, method == "lp" ? 0 : 16, method)
                XCTAssertEqual(a.count, b.count, method)
                for (step, (x, y)) in zip(a, b).enumerated() {
                    XCTAssertEqual(x, y, accuracy: 1e-4 * abs(x), "\(method) on \(hosts) hosts, step \(step + 1)")
                }
                let ma = try Self.metrics(local), mb = try Self.metrics(spread)
                for path in [["eval", "test", "accuracy"], ["eval", "test", "nll"], ["head_norm", "final"]] {
                    let x = try XCTUnwrap(Self.number(ma, path), path.joined(separator: ".")), y = try XCTUnwrap(Self.number(mb, path))
                    XCTAssertEqual(x, y, accuracy: 1e-4 * max(abs(x), 1e-3), "\(method) on \(hosts) hosts: \(path.joined(separator: "."))")
                }
            }
            let local = tiny.work.appendingPathComponent("ntk-\(hosts)-local"), spread = tiny.work.appendingPathComponent("ntk-\(hosts)-hosts")
            assertSucceeded(try MPILauncher.run(np: hosts, tiny.ntk(out: local), timeout: 120), "ntk on one host, np \(hosts)")
            assertSucceeded(try cluster.mpirun(np: hosts, tiny.ntk(out: spread)), "ntk on \(hosts) hosts")
            for name in ["pte", "fte", "ntk"] {
                let a = try NumpyFile.read(local.appendingPathComponent(name + ".npy")).values
                let b = try NumpyFile.read(spread.appendingPathComponent(name + ".npy")).values
                XCTAssertEqual(a.count, 36 * 36, name)
                let scale = a.map(abs).max() ?? 0
                XCTAssertGreaterThan(scale, 0, name)
                let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
                XCTAssertLessThanOrEqual(worst, 1e-6 * scale, "\(name) on \(hosts) hosts vs one host")
            }
            try cluster.down()
        }
    }

    /// Killing every process of one host while training stops the job within 30 s naming the
    /// host; `--resume` on all hosts again continues from the last complete checkpoint and ends
    /// with the metrics of an uninterrupted run.
    func testHostLostDuringTrainingThenResumeMatchesAnUninterruptedRun() throws {
        let tiny = try TinyRun()
        defer { try? FileManager.default.removeItem(at: tiny.work) }
        let cluster = try NetnsCluster(hosts: 3)
        let options = ["--epochs", "60", "--batch-size", "6", "--lr", "1e-3"]
        let full = tiny.work.appendingPathComponent("full"), partial = tiny.work.appendingPathComponent("partial")
        assertSucceeded(try cluster.mpirun(np: 3, tiny.train("lp-ft", out: full, options), timeout: 300), "uninterrupted run")

        let run = try cluster.start(np: 3, tiny.train("lp-ft", out: partial, options))
        let checkpoints = partial.appendingPathComponent("checkpoints")
        func completedEpochs() -> Int {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpoints.path)) ?? []
            return names.compactMap { name in
                FileManager.default.fileExists(atPath: checkpoints.appendingPathComponent("\(name)/COMPLETE").path)
                    ? Int(name.dropFirst("epoch-".count)) : nil
            }.max() ?? 0
        }
        let deadline = Date().addingTimeInterval(120)
        while completedEpochs() < 2 && run.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        try killHostAndExpectTheJobToStop(run, host: 3, during: "training")
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial.appendingPathComponent("metrics.json").path))
        XCTAssertGreaterThanOrEqual(completedEpochs(), 2)
        XCTAssertLessThan(completedEpochs(), 60)

        let resumed = try cluster.mpirun(np: 3, tiny.train("lp-ft", out: partial, options + ["--resume"]), timeout: 300)
        assertSucceeded(resumed, "resume on all hosts")
        XCTAssertEqual(try Self.stepLosses(full), try Self.stepLosses(partial))
        let a = try Self.metrics(full), b = try Self.metrics(partial)
        for key in ["eval", "head_norm", "features", "best_epoch"] {
            XCTAssertEqual(try JSONSerialization.data(withJSONObject: [a[key]!], options: .sortedKeys),
                           try JSONSerialization.data(withJSONObject: [b[key]!], options: .sortedKeys), key)
        }
        try cluster.down()
    }

    /// Killing a host during `ntk`: the rerun on all hosts resumes from the last finished chunk
    /// and writes the same matrices as an uninterrupted run.
    func testHostLostDuringNTKThenRerunResumesFromTheLastChunk() throws {
        let tiny = try TinyRun()
        defer { try? FileManager.default.removeItem(at: tiny.work) }
        let cluster = try NetnsCluster(hosts: 3)
        func command(_ out: URL) -> [String] {
            ["ntk", "--model", tiny.model.path, "--examples", tiny.examples.path, "--method", "ft", "--out", out.path,
             "--chunk-parameters", "40", "--slab-width", "20"]
        }
        let fresh = tiny.work.appendingPathComponent("fresh"), rerun = tiny.work.appendingPathComponent("rerun")
        assertSucceeded(try cluster.mpirun(np: 3, command(fresh), timeout: 300), "uninterrupted ntk")

        let run = try cluster.start(np: 3, command(rerun))
        let marker = rerun.appendingPathComponent("checkpoint/checkpoint.json")
        func chunksDone() -> Int {
            guard let data = FileManager.default.contents(atPath: marker.path),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return 0 }
            return object["chunks_done"] as? Int ?? 0
        }
        let deadline = Date().addingTimeInterval(120)
        while chunksDone() < 2 && run.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        try killHostAndExpectTheJobToStop(run, host: 2, during: "ntk")
        XCTAssertFalse(FileManager.default.fileExists(atPath: rerun.appendingPathComponent("kernel.json").path))
        let done = chunksDone()
        XCTAssertGreaterThanOrEqual(done, 2)

        let again = try cluster.mpirun(np: 3, command(rerun), timeout: 300)
        assertSucceeded(again, "rerun on all hosts")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: rerun.appendingPathComponent("kernel.json"))) as? [String: Any])
        XCTAssertEqual((json["run"] as? [String: Any])?["resumed_from_chunk"] as? Int, done)
        for name in ["pte", "fte", "ntk"] {
            XCTAssertEqual(try Data(contentsOf: rerun.appendingPathComponent(name + ".npy")),
                           try Data(contentsOf: fresh.appendingPathComponent(name + ".npy")), "\(name).npy after resuming")
        }
        try cluster.down()
    }
}
