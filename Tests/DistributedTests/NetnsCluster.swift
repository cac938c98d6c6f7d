import Foundation
import XCTest

/// A cluster of network-namespace hosts made by scripts/netns-cluster.sh for one test, with
/// its own name prefix so it never touches a cluster a developer has up. `up` in init (an
/// error, never a skip, when namespaces cannot be made), `down` in `tearDown`.
final class NetnsCluster {
    static let prefix = "lpftns-test"
    let hosts: Int
    private static let script = MPILauncher.repositoryRoot.appendingPathComponent("scripts/netns-cluster.sh").path

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(hosts: Int) throws {
        self.hosts = hosts
        let result = try Self.script(["up", String(hosts)], timeout: 120)
        guard result.status == 0 else {
            throw Failure(description: "scripts/netns-cluster.sh up \(hosts) failed (exit \(result.status)); multi-host "
                          + "tests need root with CAP_SYS_ADMIN and CAP_NET_ADMIN:\n\(result.stdout)\n\(result.stderr)")
        }
    }

    /// Runs scripts/netns-cluster.sh with this cluster's prefix.
    @discardableResult
    static func script(_ args: [String], timeout: Double = 60) throws -> MPILauncher.Result {
        try MPILauncher.runProcess("/bin/bash", [script] + args, timeout: timeout,
                                   environment: ["LPFT_NETNS_PREFIX": prefix])
    }

    /// `lpft-mpi args` on `np` ranks spread over the hosts (mpirun started on h1).
    func mpirun(np: Int, _ args: [String], timeout: Double = 120) throws -> MPILauncher.Result {
        try Self.script(["mpirun", "-np", String(np), "--map-by", "node", MPILauncher.binary.path] + args, timeout: timeout)
    }

    /// Starts `lpft-mpi args` on `np` ranks without waiting (for fault drills).
    func start(np: Int, _ args: [String]) throws -> BackgroundRun {
        try BackgroundRun(["/bin/bash", Self.script, "mpirun", "-np", String(np), "--map-by", "node",
                           MPILauncher.binary.path] + args,
                          environment: ["LPFT_NETNS_PREFIX": Self.prefix])
    }

    /// Bytes received on host `host`'s interface so far.
    func receivedBytes(host: Int) throws -> Int {
        let r = try Self.script(["exec", "h\(host)", "cat", "/sys/class/net/eth0/statistics/rx_bytes"])
        guard r.status == 0, let bytes = Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Failure(description: "cannot read h\(host)'s eth0 counters: \(r.stderr)")
        }
        return bytes
    }

    func down() throws {
        let r = try Self.script(["down"], timeout: 60)
        if r.status != 0 { throw Failure(description: "netns-cluster down failed: \(r.stderr)") }
    }

    /// What the harness left behind: namespaces, per-namespace files, and processes whose
    /// command line names the prefix (mpirun's daemons carry the launch agent's arguments).
    static func leftovers() -> [String] {
        var found: [String] = []
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/var/run/netns")) ?? []
        found += names.filter { $0.hasPrefix(prefix + "-") }.map { "namespace \($0)" }
        let configs = (try? FileManager.default.contentsOfDirectory(atPath: "/etc/netns")) ?? []
        found += configs.filter { $0.hasPrefix(prefix + "-") }.map { "/etc/netns/\($0)" }
        if FileManager.default.fileExists(atPath: "/tmp/\(prefix)-cluster") { found.append("/tmp/\(prefix)-cluster") }
        let me = getpid()
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != me,
                  let raw = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let command = String(decoding: raw.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            if command.contains("--prefix \(prefix)") || command.contains("\(prefix)-h") {
                found.append("process \(pid): \(command.prefix(160))")
            }
        }
        return found
    }
}

/// A process started in the background whose output a test can watch while it runs.
final class BackgroundRun {
    let process = Process()
    let start = Date()
    private let directory: URL
    private let outURL: URL
    private let errURL: URL

    init(_ command: [String], environment: [String: String]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("lpft-bg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        outURL = directory.appendingPathComponent("stdout")
        errURL = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    var stdout: String { (try? String(contentsOf: outURL, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }

    /// Waits until stdout contains `text` (true) or the process ends / `timeout` passes (false).
    func waitForOutput(_ text: String, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stdout.contains(text) { return true }
            if !process.isRunning { return stdout.contains(text) }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    /// Waits for the process to end, at most `timeout` seconds (then kills it).
    func wait(timeout: Double) -> MPILauncher.Result {
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                process.terminate()
                Thread.sleep(forTimeInterval: 1)
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.waitUntilExit()
        return MPILauncher.Result(status: process.terminationStatus, stdout: stdout, stderr: stderr,
                                  seconds: Date().timeIntervalSince(start), timedOut: timedOut)
    }
}
