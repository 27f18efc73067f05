/// The demo clinic's fixed world: locations, providers, acquisition channels, the
/// service menu and price list, retail products, membership plans, loyalty tiers and
/// the name lists clients are drawn from. Everything here is constant; the
/// simulation (``DemoClient``) only picks from it.
enum DemoCatalog {
    // MARK: Locations and providers

    /// The three locations. Uptown opens two years before the end of the history.
    static let locations = ["Midtown", "Harbor", "Uptown"]
    /// How often a new client calls each location home (Uptown only once open).
    static let locationWeights = [0.45, 0.33, 0.22]
    /// Days before the end of the history on which Uptown opened.
    static let uptownOpenedDaysBeforeEnd = 730

    /// A product category, also the category of purchase items.
    enum Category: Int, CaseIterable {
        case consultation, neurotoxin, filler, laser, facial, microneedling, prp, skincare

        /// The name stored in `items[].category`.
        var name: String {
            switch self {
            case .consultation: "consultation"
            case .neurotoxin: "neurotoxin"
            case .filler: "filler"
            case .laser: "laser"
            case .facial: "facial"
            case .microneedling: "microneedling"
            case .prp: "prp"
            case .skincare: "skincare"
            }
        }

        var bit: Int { 1 << rawValue }
    }

    /// A member of staff: where they work and what they may perform (a bit set of categories).
    struct Provider {
        let name: String
        let location: Int
        let skills: Int
        func can(_ c: Category) -> Bool { skills & c.bit != 0 }
    }

    private static func skills(_ cs: [Category]) -> Int { cs.reduce(Category.consultation.bit) { $0 | $1.bit } }
    private static let injector = skills([.neurotoxin, .filler, .prp, .microneedling])
    private static let nurse = skills([.neurotoxin, .filler, .laser])
    private static let esthetician = skills([.facial, .microneedling, .laser])

    /// Injectors (MD, NP, PA, RN) and estheticians at each location.
    static let providers: [Provider] = [
        Provider(name: "Dr. Sarah Kim", location: 0, skills: injector),
        Provider(name: "Jessica Moore, RN", location: 0, skills: nurse),
        Provider(name: "Ana Lopez", location: 0, skills: esthetician),
        Provider(name: "Dr. Michael Chen", location: 1, skills: injector),
        Provider(name: "Emily Park, NP", location: 1, skills: injector),
        Provider(name: "Taylor Reed", location: 1, skills: esthetician),
        Provider(name: "Lauren Brooks, PA", location: 2, skills: injector),
        Provider(name: "Maria Santos", location: 2, skills: esthetician),
    ]

    // MARK: Acquisition

    /// An acquisition channel: the `source` of the `client` event and its typical cost per client.
    struct Channel {
        let name: String
        /// Typical acquisition cost in cents (each client's varies ±30%).
        let cost: Int64
        let weight: Double
        /// Multiplies the client's chance of dropping out after a visit.
        let churn: Double
    }

    static let channels: [Channel] = [
        Channel(name: "instagram", cost: 4500, weight: 0.24, churn: 1.0),
        Channel(name: "google", cost: 6000, weight: 0.20, churn: 0.9),
        Channel(name: "referral", cost: 1500, weight: 0.18, churn: 0.65),
        Channel(name: "facebook", cost: 3500, weight: 0.14, churn: 1.1),
        Channel(name: "walk-in", cost: 0, weight: 0.12, churn: 1.0),
        Channel(name: "groupon", cost: 2500, weight: 0.12, churn: 1.6),
    ]
    static let channelWeights = channels.map(\.weight)

    // MARK: The menu

    /// A treatment on the menu: the name stored in a visit's `services` and its category.
    enum Treatment: Int, CaseIterable {
        case consultation, botox, dysport, xeomin, filler, ipl, laserHair, hydrafacial, dermaplaning, peel, microneedling, prp

        var service: String {
            switch self {
            case .consultation: "consultation"
            case .botox: "botox"
            case .dysport: "dysport"
            case .xeomin: "xeomin"
            case .filler: "filler"
            case .ipl: "ipl photofacial"
            case .laserHair: "laser hair removal"
            case .hydrafacial: "hydrafacial"
            case .dermaplaning: "dermaplaning"
            case .peel: "chemical peel"
            case .microneedling: "microneedling"
            case .prp: "prp"
            }
        }

        var category: Category {
            switch self {
            case .consultation: .consultation
            case .botox, .dysport, .xeomin: .neurotoxin
            case .filler: .filler
            case .ipl, .laserHair: .laser
            case .hydrafacial, .dermaplaning, .peel: .facial
            case .microneedling: .microneedling
            case .prp: .prp
            }
        }
    }

    /// A priced line: item name and price in cents per unit (per unit of toxin, per
    /// syringe of filler, per session otherwise).
    struct Price {
        let name: String
        let cents: Int64
    }

    /// Neurotoxins are priced per unit; a visit treats one to three areas.
    static let botox = Price(name: "Botox Cosmetic", cents: 1300)        // 20–54 units: $260–$702
    static let dysport = Price(name: "Dysport", cents: 450)              // 50–140 units: $225–$630
    static let xeomin = Price(name: "Xeomin", cents: 1200)               // 20–56 units: $240–$672
    /// Dermal fillers, per syringe.
    static let fillers = [
        Price(name: "Juvederm Ultra XC", cents: 75000),
        Price(name: "Juvederm Voluma XC", cents: 85000),
        Price(name: "Restylane Kysse", cents: 70000),
        Price(name: "RHA Redensity", cents: 65000),
    ]
    static let ipl = Price(name: "IPL Photofacial", cents: 35000)
    /// Laser hair removal, per session, by area.
    static let laserHair = [
        Price(name: "Laser Hair Removal - Underarms", cents: 15000),
        Price(name: "Laser Hair Removal - Bikini", cents: 20000),
        Price(name: "Laser Hair Removal - Lower Face", cents: 12500),
        Price(name: "Laser Hair Removal - Full Legs", cents: 45000),
    ]
    static let hydrafacial = [
        Price(name: "HydraFacial Signature", cents: 19900),
        Price(name: "HydraFacial Deluxe", cents: 27900),
    ]
    static let dermaplaning = Price(name: "Dermaplaning", cents: 8500)
    static let peels = [
        Price(name: "Glycolic Peel", cents: 17500),
        Price(name: "VI Peel", cents: 32500),
    ]
    static let microneedling = Price(name: "Microneedling", cents: 37500)
    static let prp = [
        Price(name: "Microneedling with PRP", cents: 75000),
        Price(name: "PRP Hair Restoration", cents: 85000),
    ]
    /// Retail skincare, sold at checkout and online.
    static let skincare = [
        Price(name: "Vitamin C Serum", cents: 9800),
        Price(name: "Mineral SPF 50", cents: 4800),
        Price(name: "Retinol Night Cream", cents: 8200),
        Price(name: "Gentle Foaming Cleanser", cents: 3600),
        Price(name: "Hyaluronic Acid Serum", cents: 7200),
        Price(name: "Eye Repair Cream", cents: 8900),
    ]

    // MARK: Loyalty

    /// Membership plans and their monthly fees.
    static let plans = [
        Price(name: "Glow", cents: 9900),
        Price(name: "Radiance", cents: 17900),
        Price(name: "VIP", cents: 29900),
    ]

    /// Tier names, lowest first.
    static let tiers = ["bronze", "silver", "gold", "platinum"]
    /// Rolling 12-month spend (cents) from which each tier holds: any purchase makes
    /// bronze; $1,000 silver; $2,500 gold; $5,000 platinum.
    static let tierThresholds: [Int64] = [0, 100_000, 250_000, 500_000]

    /// Loyalty points per whole dollar spent, and the rewards that can be redeemed.
    static let pointsPerDollar: Int64 = 1
    /// Points given with a client's first purchase.
    static let welcomeBonus: Int64 = 100
    static let redemptions: [(points: Int64, reason: String)] = [(500, "$25 reward"), (1000, "$50 reward")]

    // MARK: Feedback

    /// Chance of each score 1…5 by the client's disposition (happy, neutral, unhappy).
    static let scoreWeights: [[Double]] = [
        [0.01, 0.01, 0.05, 0.25, 0.68],
        [0.03, 0.07, 0.25, 0.40, 0.25],
        [0.20, 0.30, 0.30, 0.15, 0.05],
    ]
    /// Comments left with some feedback, by score.
    static let comments: [[String]] = [
        ["Very disappointed.", "Had a reaction and nobody called me back.", "Will not be coming back."],
        ["Too pricey for the results.", "Felt rushed.", "Some bruising, not thrilled.", "Waited 40 minutes past my appointment."],
        ["It was fine.", "Results were OK, not wow.", "Running a bit behind schedule."],
        ["Great results, a bit of a wait.", "Very happy overall.", "Lovely staff, will be back."],
        ["Loved my results!", "Amazing as always.", "So relaxing, thank you!", "Best my skin has ever looked.",
         "Professional and friendly, highly recommend."],
    ]

    // MARK: People

    static let firstNames = [
        "Olivia", "Emma", "Ava", "Sophia", "Isabella", "Mia", "Charlotte", "Amelia", "Harper", "Evelyn",
        "Abigail", "Emily", "Madison", "Chloe", "Grace", "Lily", "Hannah", "Natalie", "Samantha", "Victoria",
        "Jessica", "Ashley", "Sarah", "Lauren", "Megan", "Rachel", "Nicole", "Stephanie", "Jennifer", "Elizabeth",
        "Priya", "Aisha", "Mei", "Yuki", "Sofia", "Camila", "Valentina", "Gabriela", "Leah", "Zoe",
        "Nora", "Claire", "Maya", "Alexis", "Brooke", "Danielle", "Monica", "Tara", "Ines", "Fatima",
        "James", "Michael", "David", "Daniel", "Ryan", "Chris", "Kevin", "Marcus", "Ethan", "Andrew",
    ]
    /// The first 50 first names are drawn 85% of the time, the last 10 15%.
    static let femaleShare = 0.85
    static let femaleNames = 50

    static let lastNames = [
        "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
        "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
        "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
        "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
        "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
        "Patel", "Kim", "Chen", "Shah", "Cohen", "Murphy", "O'Brien", "Sullivan", "Rossi", "Novak",
    ]
    /// Reserved example domains (RFC 2606), so no demo address can reach a real person.
    static let emailDomains = ["example.com", "example.net", "example.org"]
    /// Area codes of the demo city; numbers are 555-01xx, reserved for fiction.
    static let areaCodes = ["212", "646", "917", "718", "347", "332"]
}
