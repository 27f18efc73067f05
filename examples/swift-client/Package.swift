// swift-tools-version: 6.0
// A separate package that depends on Patron the way an app would (here by path),
// opens a database, appends a few events and runs a query. Built and run by
// scripts/test:  swift run --package-path examples/swift-client swift-client /tmp/x.db
import PackageDescription

let package = Package(
    name: "swift-client",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "Patron", path: "../..")],
    targets: [
        .executableTarget(name: "swift-client", dependencies: [.product(name: "Patron", package: "Patron")]),
    ],
    swiftLanguageModes: [.v6]
)
