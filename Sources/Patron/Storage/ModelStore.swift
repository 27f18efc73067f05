import Foundation
import LMDB

/// Fitted model parameters and the `model` setting live in the `meta` table, next to
/// saved queries: `model:bgnbd`, `model:mbgnbd` and `model:gammagamma` hold a
/// ``StoredModel`` as JSON, `setting:model` the name of the transaction model that
/// `p_alive`, `expected(D)` and `predicted_clv` use. They are not events: a fit is a
/// computation over the log, recorded with the `today` and log position it saw.
enum ModelStore {
    static let bgnbdKey = "model:bgnbd"
    static let mbgnbdKey = "model:mbgnbd"
    static let gammaGammaKey = "model:gammagamma"
    static let settingKey = "setting:model"

    static func key(_ kind: TransactionModelKind) -> String {
        kind == .bgnbd ? bgnbdKey : mbgnbdKey
    }

    /// The stored models (each nil when never stored, or unreadable by this build).
    static func read(_ store: Store, txn: Transaction) throws -> StoredModels {
        StoredModels(
            bgnbd: try decode(StoredModel<TransactionModel>.self, store, txn, bgnbdKey),
            mbgnbd: try decode(StoredModel<TransactionModel>.self, store, txn, mbgnbdKey),
            gammaGamma: try decode(StoredModel<GammaGammaModel>.self, store, txn, gammaGammaKey))
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ store: Store, _ txn: Transaction, _ key: String) throws -> T? {
        guard let bytes = try txn.get(store.schema.meta, key: key) else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(bytes))
    }

    /// Writes the given models in one transaction (nil entries are left as they are).
    static func write(_ store: Store, bgnbd: StoredModel<TransactionModel>?, mbgnbd: StoredModel<TransactionModel>?,
                      gammaGamma: StoredModel<GammaGammaModel>?) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let entries: [(String, Data)] = try [
            bgnbd.map { (bgnbdKey, try encoder.encode($0)) },
            mbgnbd.map { (mbgnbdKey, try encoder.encode($0)) },
            gammaGamma.map { (gammaGammaKey, try encoder.encode($0)) },
        ].compactMap { $0 }
        guard !entries.isEmpty else { return }
        try store.env.write { txn in
            for (key, data) in entries { try txn.put(store.schema.meta, key: key, value: Array(data)) }
        }
    }

    /// The stored `model` setting (nil when never set).
    static func readSetting(_ store: Store, txn: Transaction) throws -> TransactionModelKind? {
        guard let bytes = try txn.get(store.schema.meta, key: settingKey) else { return nil }
        return TransactionModelKind(rawValue: String(decoding: bytes, as: UTF8.self))
    }

    /// Stores the `model` setting.
    static func writeSetting(_ store: Store, _ kind: TransactionModelKind) throws {
        try store.env.write { txn in
            try txn.put(store.schema.meta, key: settingKey, value: Array(kind.rawValue.utf8))
        }
    }
}
