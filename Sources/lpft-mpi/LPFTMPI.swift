import ArgumentParser
import Distributed
import Foundation
import Model

@main
struct LPFTMPI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lpft-mpi",
        abstract: "LP, FT, LP-FT, LoRA and LP-LoRA fine-tuning with MPI data parallelism and a distributed empirical NTK.",
        discussion: """
            Run alone for one rank, or under mpirun for many:
              lpft-mpi info
              mpirun -np 2 lpft-mpi bench allreduce
            """,
        subcommands: [Train.self, Export.self, Predict.self, Evaluate.self, Embed.self, NTKCommand.self, Tokenize.self,
                      Info.self, Bench.self, SelfTest.self, Sweep.self, Report.self, Experiment.self])

    /// Parses and runs the command. A bad command line is one line on stderr — the message and
    /// where to read the command's help — printed by one rank only (under mpirun every rank
    /// parses the same arguments and would print the same line). Errors of a running job are
    /// reported by `runJob` (`rank R: …`).
    static func main() {
        useFastBLASKernels()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }  // --help, --version: printed as usual
            if error is ExitCode { Foundation.exit(code.rawValue) }  // already reported
            if Self.launcherRank == 0 {
                let text = (error as? LocalizedError)?.errorDescription ?? message(for: error)
                let oneLine = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty }.joined(separator: " ")
                FileHandle.standardError.write(Data("lpft-mpi \(commandPath): \(oneLine) (see: lpft-mpi \(commandPath) --help)\n".utf8))
            }
            // Under mpirun: rank 0's line first, before the launcher reports the failed processes.
            if ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"].flatMap({ Int($0) }) ?? 1 > 1 {
                Thread.sleep(forTimeInterval: Self.launcherRank == 0 ? 0.2 : 1)
            }
            Foundation.exit(code.rawValue)
        }
    }

    /// OpenBLAS picks its kernels when it loads, from the CPU or OPENBLAS_CORETYPE; when it took
    /// this CPU for an old generic one, run this program again with the right family named
    /// (same process, before MPI starts, so it works under mpirun and srun alike).
    static func useFastBLASKernels() {
        guard let core = BLAS.betterCoreType() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv("LPFT_OPENBLAS_DETECTED", BLAS.coreName, 1)  // shown by `lpft-mpi info`
        let arguments = CommandLine.unsafeArgv
        execv("/proc/self/exe", arguments)
        // exec failed (no /proc): go on with the kernels OpenBLAS chose.
    }

    /// This process's rank as the launcher (mpirun, srun) tells it, before MPI starts; 0 alone.
    static var launcherRank: Int {
        let environment = ProcessInfo.processInfo.environment
        for key in ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"] {
            if let value = environment[key].flatMap({ Int($0) }) { return value }
        }
        return 0
    }

    /// The subcommand named on the command line ("train", "sweep plan"), for messages.
    static var commandPath: String {
        var path: [String] = []
        var level: [ParsableCommand.Type] = configuration.subcommands
        for argument in CommandLine.arguments.dropFirst() {
            guard let match = level.first(where: { $0._commandName == argument }) else { break }
            path.append(argument)
            level = match.configuration.subcommands
        }
        return path.isEmpty ? "" : path.joined(separator: " ")
    }
}

/// A command that runs as one rank of an MPI job: errors on any rank stop every rank. Its
/// job options (e.g. `--stall-timeout`) are applied to the communicator before `run(comm:)`.
protocol RankCommand: ParsableCommand {
    var job: JobOptions { get }
    func run(comm: Communicator) throws
}

extension RankCommand {
    func run() throws {
        runJob { comm in
            comm.stallTimeout = job.stallTimeout > 0 ? job.stallTimeout : nil
            try run(comm: comm)
        }
    }
}

/// Writes a value as one JSON object line on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let data = try encoder.encode(value)
    print(String(decoding: data, as: UTF8.self))
    fflush(stdout)
}

/// Right-aligns cells into fixed-width columns separated by one space.
func tableRow(_ cells: [String], widths: [Int]) -> String {
    zip(cells, widths).map { cell, width in
        String(repeating: " ", count: max(0, width - cell.count)) + cell
    }.joined(separator: " ")
}

/// The rows of a table, columns right-aligned to their widest cell.
func alignedRows(_ rows: [[String]]) -> [String] {
    let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
    return rows.map { tableRow($0, widths: widths) }
}
