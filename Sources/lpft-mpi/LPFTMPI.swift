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
}

/// A command that runs as one rank of an MPI job: errors on any rank stop every rank.
/// A command that includes `@OptionGroup var job: JobOptions` gets them applied to the
/// communicator (e.g. `--stall-timeout`) before `run(comm:)`.
protocol RankCommand: ParsableCommand {
    func run(comm: Communicator) throws
}

extension RankCommand {
    func run() throws {
        runJob { comm in
            JobOptions.included(in: self)?.apply(to: comm)
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
