/// The fields each entity exposes, with their kinds (SPEC 3.2, 3.5).
enum Catalog {
    /// Client fields (SPEC 3.5) except the model-based ones.
    static let clientFields: [(String, ValueKind)] = [
        ("id", .string), ("name", .string), ("email", .string), ("phone", .string), ("source", .string),
        ("location", .string), ("registered", .date), ("acquisition_cost", .money),
        ("first_seen", .date), ("last_seen", .date), ("first_visit", .date), ("last_visit", .date),
        ("active_days", .number), ("visits", .number), ("purchases", .number), ("refunds", .number),
        ("lapsed", .duration), ("tenure", .duration), ("lifespan", .duration), ("frequency", .number),
        ("cadence", .duration), ("overdue", .duration), ("next_due", .date), ("spend", .money),
        ("refunded", .money), ("aov", .money), ("clv", .money), ("points", .number), ("tier", .string),
        ("member", .boolean), ("plan", .string), ("satisfaction", .number), ("avg_satisfaction", .number),
        ("services", .list), ("providers", .list), ("locations", .list), ("items", .list), ("categories", .list),
        ("provider", .string),
    ]

    /// Model-based client fields (SPEC 3.5, 5): `expected` and `predicted_clv` also take a
    /// duration (`expected(90d)`, `predicted_clv(1y)`). See ModelFields.swift.
    static let modelFields: [(String, ValueKind)] = [
        ("p_alive", .number), ("expected", .number), ("predicted_clv", .money),
        ("r", .number), ("f", .number), ("m", .number), ("rfm", .string), ("segment", .string),
    ]

    static let modelFieldKinds: [String: ValueKind] = Dictionary(uniqueKeysWithValues: modelFields)

    static let clientKinds: [String: ValueKind] = Dictionary(uniqueKeysWithValues: clientFields)

    /// `clients` without `show`.
    static let clientDefaults = ["id", "name", "tier", "visits", "spend", "last_seen", "lapsed"]

    /// Fields of every event row.
    static let commonEventFields: [(String, ValueKind)] = [("id", .string), ("client", .string), ("at", .date), ("position", .number)]

    /// Fields of a line item (also on `items` rows, and as `items.<field>` on purchases).
    static let itemFields: [(String, ValueKind)] = [("name", .string), ("category", .string), ("quantity", .number), ("amount", .money)]

    /// An entity's own fields (besides the common ones).
    static func ownFields(_ e: Entity) -> [(String, ValueKind)] {
        switch e {
        case .clients: return clientFields
        case .visits: return [("location", .string), ("provider", .string), ("services", .list)]
        case .purchases:
            return [("amount", .money), ("location", .string), ("provider", .string), ("channel", .string),
                    ("items", .list), ("categories", .list)]
        case .items:
            return itemFields + [("location", .string), ("provider", .string), ("channel", .string), ("purchase", .string)]
        case .refunds: return [("amount", .money), ("purchase", .string)]
        case .rewards: return [("points", .number), ("kind", .string), ("reason", .string)]
        case .tiers: return [("tier", .string)]
        case .memberships: return [("plan", .string), ("action", .string), ("fee", .money)]
        case .feedback: return [("score", .number), ("comment", .string), ("visit", .string)]
        case .events: return [("type", .string)]
        }
    }

    /// Every field of an entity's rows.
    static func fields(_ e: Entity) -> [(String, ValueKind)] {
        e == .clients ? clientFields + modelFields : commonEventFields + ownFields(e)
    }

    /// Columns shown when a query has no `show`.
    static func defaults(_ e: Entity) -> [String] {
        switch e {
        case .clients: return clientDefaults
        case .events: return ["position", "type", "client", "at"]
        default: return ["client", "at"] + ownFields(e).map(\.0)
        }
    }

    /// Every word the language knows, for "did you mean" on keywords.
    static let keywords = [
        "where", "group", "by", "show", "sort", "top", "limit", "as", "of", "and", "or", "not", "in", "between",
        "is", "null", "contains", "asc", "desc", "has", "no", "true", "false", "today", "last",
    ]
}
