import KaplanCLI

@main enum Entry { static func main() async { await KaplanCommand.main() } }
