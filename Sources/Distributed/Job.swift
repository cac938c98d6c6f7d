import Foundation
import Model

/// Runs `body` as one rank of an MPI job. Any error thrown on any rank prints
/// `rank R: <message>` on stderr and stops the whole job (MPI_Abort), so `mpirun` exits
/// non-zero within seconds even while other ranks wait inside a collective.
public func runJob(_ body: (Communicator) throws -> Void) {
    let comm: Communicator
    do {
        comm = try Communicator.world()
    } catch {
        FileHandle.standardError.write(Data("rank ?: \(describe(error))\n".utf8))
        exit(1)
    }
    do {
        try body(comm)
    } catch {
        if comm.size == 1 {
            // A single rank needs no MPI_Abort (which prints a long OpenMPI banner).
            FileHandle.standardError.write(Data("rank 0: \(describe(error))\n".utf8))
            comm.finalize()
            exit(1)
        }
        comm.abort(describe(error))
    }
    comm.finalize()
}

/// The message of an error: LocalizedError's description when present.
public func describe(_ error: Error) -> String {
    if let localized = error as? LocalizedError, let text = localized.errorDescription { return text }
    return String(describing: error)
}

/// Prints on rank 0 only (the one place that decides who talks).
public func printRoot(_ comm: Communicator, _ text: String) {
    if comm.isRoot { print(text); fflush(stdout) }
}
