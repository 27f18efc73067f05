import Dispatch
import Synchronization

/// The changed client states of a commit encoded partly on a fold thread
/// (``FoldThreads``) while the writer's thread encodes and writes the others
/// (``AppendContext``): at each commit the writer writes every client a transaction
/// changed, and encoding them is most of that work.
///
/// The clients (ascending) are taken in runs of ``run`` from both ends: the writer's
/// thread from the front (``claimFront()``), encoding and writing each run as it goes,
/// the fold thread from the back, so the two meet wherever their speeds put them.
/// The fold thread reads the states through its own copy of the folding; the writer
/// must not change the folding until ``wait()`` returns (the copy is let go by then,
/// so the writer's next change does not copy the table).
final class StatesEncodedAside: @unchecked Sendable {
    /// Encoded states: `rows` one after another (``ProjectionRow/size`` each), and each
    /// client's detail at `details[detailEnds[k - 1]..<detailEnds[k]]`.
    struct Encoded {
        var numbers: [UInt32] = []
        var rows: [UInt8] = []
        var details: [UInt8] = []
        var detailEnds: [Int] = []
    }

    /// Clients per run taken at a time.
    static let run = 256

    private var folding: ProjectionFolding?
    private let clients: [UInt32]
    /// The runs not taken yet: `front..<back`, in run indices.
    private let claims: Mutex<(front: Int, back: Int)>
    /// What the fold thread encoded, last run first.
    private var encoded: [Encoded] = []
    private let done = DispatchSemaphore(value: 0)

    /// Starts encoding the states of `clients` (ascending) held by `folding` from the back.
    init(folding: ProjectionFolding, clients: [UInt32]) {
        self.folding = folding
        self.clients = clients
        claims = Mutex((0, (clients.count + Self.run - 1) / Self.run))
        FoldThreads.shared.run { self.encodeFromTheBack() }
    }

    private func clients(ofRun r: Int) -> ArraySlice<UInt32> {
        clients[(r * Self.run)..<min((r + 1) * Self.run, clients.count)]
    }

    /// The next run of clients for the writer's thread to encode, nil once every run is taken.
    func claimFront() -> ArraySlice<UInt32>? {
        let r = claims.withLock { c -> Int? in
            guard c.front < c.back else { return nil }
            c.front += 1
            return c.front - 1
        }
        return r.map { clients(ofRun: $0) }
    }

    private func encodeFromTheBack() {
        if var folding {
            var detail = ByteWriter(capacity: 512)
            while let r = claims.withLock({ c -> Int? in
                guard c.front < c.back else { return nil }
                c.back -= 1
                return c.back
            }) {
                let run = clients(ofRun: r)
                var out = Encoded()
                out.numbers.reserveCapacity(run.count)
                out.detailEnds.reserveCapacity(run.count)
                out.rows.reserveCapacity(run.count * ProjectionRow.size)
                for k in run.indices {
                    folding.prefetchAhead(run, k)
                    let n = run[k]
                    guard folding.encode(n, row: &out.rows, detail: &detail) else { continue }
                    out.numbers.append(n)
                    out.details.append(contentsOf: detail.bytes)
                    out.detailEnds.append(out.details.count)
                }
                encoded.append(out)
            }
        }
        folding = nil
        done.signal()
    }

    /// Leaves the runs not taken yet untaken: the fold thread stops after the run it is
    /// encoding (for a write that failed; ``wait()`` still waits for it).
    func cancel() {
        claims.withLock { $0.back = $0.front }
    }

    /// Waits for the fold thread's runs and hands them over in client order (writer's
    /// thread, once ``claimFront()`` has returned nil).
    func wait() -> [Encoded] {
        done.wait()
        return encoded.reversed()
    }
}

/// Lets go of what a transaction held — client states, its lookup tables — on a fold
/// thread (``FoldThreads``) instead of the writer's: freeing some hundred thousand
/// states of an import's transaction takes time the writer's next transaction can use.
enum Release {
    /// Drops what `value` holds on a fold thread, leaving `empty` in its place: moved
    /// into the fold thread's hands, not copied, so the writer keeps no reference
    /// whose release would free it here after all.
    static func aside<T>(_ value: inout T, leaving empty: T) {
        let box = Holder(empty)
        swap(&box.value, &value)
        FoldThreads.shared.run { box.value = box.empty }
    }

    private final class Holder<T>: @unchecked Sendable {
        var value: T
        let empty: T
        init(_ empty: T) {
            value = empty
            self.empty = empty
        }
    }
}
