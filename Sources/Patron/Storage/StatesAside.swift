import Dispatch

/// The changed client states of a commit encoded on a fold thread (``FoldThreads``)
/// while the writer's thread encodes and writes the others (``AppendContext``): at
/// each commit the writer writes every client a transaction changed, and encoding
/// them is most of that work.
///
/// It reads the states of `clients` through its own copy of the folding; the writer
/// must not change the folding until ``wait()`` returns (its copy is let go by then,
/// so the writer's next change does not copy the table).
final class StatesEncodedAside: @unchecked Sendable {
    /// The encoded states: `rows` one after another (``ProjectionRow/size`` each), and
    /// each client's detail at `details[detailEnds[k - 1]..<detailEnds[k]]`.
    struct Encoded {
        var numbers: [UInt32] = []
        var rows: [UInt8] = []
        var details: [UInt8] = []
        var detailEnds: [Int] = []
    }

    private var folding: ProjectionFolding?
    private let clients: ArraySlice<UInt32>
    private var encoded = Encoded()
    private let done = DispatchSemaphore(value: 0)

    /// Starts encoding the states of `clients` (ascending) held by `folding`.
    init(folding: ProjectionFolding, clients: ArraySlice<UInt32>) {
        self.folding = folding
        self.clients = clients
        FoldThreads.shared.run { self.run() }
    }

    private func run() {
        if let folding {
            var out = Encoded()
            out.numbers.reserveCapacity(clients.count)
            out.detailEnds.reserveCapacity(clients.count)
            out.rows.reserveCapacity(clients.count * ProjectionRow.size)
            var detail = ByteWriter(capacity: 512)
            for n in clients where folding.encode(n, row: &out.rows, detail: &detail) {
                out.numbers.append(n)
                out.details.append(contentsOf: detail.bytes)
                out.detailEnds.append(out.details.count)
            }
            encoded = out
        }
        folding = nil
        done.signal()
    }

    /// Waits for the encoding and hands it over (writer's thread).
    func wait() -> Encoded {
        done.wait()
        return encoded
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
