import Foundation
import XCTest

/// Runs the built `lpft-mpi` under mpirun through scripts/launch (the same launcher users run)
/// and captures its exit status, output and wall time.
enum MPILauncher {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var seconds: Double
        var timedOut: Bool
    }

    /// The repository root (this file is Tests/DistributedTests/MPILauncher.swift).
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The lpft-mpi binary built next to this test bundle (or $LPFT_MPI_BINARY).
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["LPFT_MPI_BINARY"] { return URL(fileURLWithPath: path) }
        let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundleDir, Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("lpft-mpi")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return repositoryRoot.appendingPathComponent(".build/release/lpft-mpi")
    }

    /// Runs `lpft-mpi args` on `np` ranks (oversubscribed past the core count); kills it after
    /// `timeout` seconds.
    static func run(np: Int, _ args: [String], timeout: Double = 300,
                    environment: [String: String] = [:]) throws -> Result {
        let launch = repositoryRoot.appendingPathComponent("scripts/launch").path
        return try runProcess("/bin/bash", [launch, "-np", String(np), "--", binary.path] + args,
                              timeout: timeout, environment: environment)
    }

    /// Runs `lpft-mpi args` as a single process without mpirun.
    static func runSingle(_ args: [String], timeout: Double = 300, environment: [String: String] = [:]) throws -> Result {
        try runProcess(binary.path, args, timeout: timeout, environment: environment)
    }

    /// A launched run that a test can kill part-way.
    final class Running {
        let process: Process
        let directory: URL
        let start = Date()
        init(process: Process, directory: URL) { self.process = process; self.directory = directory }

        /// Kills the whole run: mpirun and every rank it started.
        func kill() {
            process.terminate()
            Thread.sleep(forTimeInterval: 1)
            if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }

        func wait(timeout: Double) -> Result {
            var timedOut = false
            while process.isRunning {
                if Date().timeIntervalSince(start) > timeout { timedOut = true; kill(); break }
                Thread.sleep(forTimeInterval: 0.05)
            }
            process.waitUntilExit()
            defer { try? FileManager.default.removeItem(at: directory) }
            return Result(status: process.terminationStatus,
                          stdout: (try? String(contentsOf: directory.appendingPathComponent("stdout"), encoding: .utf8)) ?? "",
                          stderr: (try? String(contentsOf: directory.appendingPathComponent("stderr"), encoding: .utf8)) ?? "",
                          seconds: Date().timeIntervalSince(start), timedOut: timedOut)
        }
    }

    /// Starts `lpft-mpi args` on `np` ranks without waiting.
    static func start(np: Int, _ args: [String], environment: [String: String] = [:]) throws -> Running {
        let launch = repositoryRoot.appendingPathComponent("scripts/launch").path
        return try startProcess("/bin/bash", [launch, "-np", String(np), "--", binary.path] + args, environment: environment)
    }

    static func startProcess(_ executable: String, _ args: [String], environment: [String: String]) throws -> Running {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lpft-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let outURL = dir.appendingPathComponent("stdout"), errURL = dir.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        // A test that started MPI in-process (singleton) carries OpenMPI/PMIx variables that
        // would make the child mpirun believe it runs inside that job: drop them.
        var env = ProcessInfo.processInfo.environment.filter { key, _ in
            !(key.hasPrefix("OMPI_") || key.hasPrefix("PMIX_") || key.hasPrefix("OPAL_") || key.hasPrefix("ORTE_"))
        }
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        return Running(process: process, directory: dir)
    }

    static func runProcess(_ executable: String, _ args: [String], timeout: Double,
                           environment: [String: String]) throws -> Result {
        try startProcess(executable, args, environment: environment).wait(timeout: timeout)
    }
}

extension XCTestCase {
    /// Asserts a launched run succeeded, showing its output when it did not.
    func assertSucceeded(_ r: MPILauncher.Result, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(r.timedOut, "\(what) timed out after \(Int(r.seconds)) s", file: file, line: line)
        XCTAssertEqual(r.status, 0, "\(what) failed:\n\(r.stdout)\n\(r.stderr)", file: file, line: line)
    }
}
