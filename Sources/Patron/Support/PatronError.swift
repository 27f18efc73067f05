/// Errors of the database as a whole (files, formats, conflicts).
public enum PatronError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A file could not be read or written.
    case io(String)
    /// A file is not a Patron database, or one of a format this build does not read.
    case format(String)
    /// The database was opened read-only and the operation writes.
    case readOnly(String)
    /// An append's expected stream version did not match the stream.
    case wrongExpectedVersion(client: String, expected: UInt32, actual: UInt32)
    /// No client with this key.
    case unknownClient(String)
    /// Invalid arguments to an API call.
    case invalidArgument(String)
    /// The append committed (its events are stored) but the keys of `clients` forgotten
    /// clients could not be destroyed, so their personal data is still readable; `patron
    /// rebuild` (``Database/rebuild()``) destroys the keys of every forgotten client.
    case erasureIncomplete(clients: Int, reason: String)
    /// Another process holds the database for a long write (an import committing in
    /// several transactions); the message names it. Nothing was written.
    case busy(String)
    /// The events from this position on, some of which a subscription had delivered,
    /// were undone (an import that did not finish was rolled back).
    case undone(from: UInt64)
    /// An import committing in several transactions found its journal gone: another
    /// process took this one for dead and undid what it had stored.
    case importUndone(file: String)

    public var description: String {
        switch self {
        case .io(let s), .format(let s), .invalidArgument(let s), .busy(let s): s
        case .readOnly(let op): "the database is open read-only; \(op) needs write access"
        case let .wrongExpectedVersion(client, expected, actual):
            "wrong expected version for client \"\(client)\": expected \(expected), actual \(actual)"
        case .unknownClient(let key): "no client with key \"\(key)\""
        case .importUndone(let file):
            "the import of \(file) was undone by another process, which took this one for gone; nothing of the file is stored"
        case .undone(let from):
            "the events from position \(from) on were undone (an import that did not finish was rolled back), "
                + "so events this subscription delivered from there no longer exist; subscribe again from position \(from)"
        case let .erasureIncomplete(clients, reason):
            "the events were stored, but the personal data of \(clients) forgotten client\(clients == 1 ? "" : "s") "
                + "could not be destroyed (\(reason)); run `patron rebuild` to destroy it"
        }
    }
}
