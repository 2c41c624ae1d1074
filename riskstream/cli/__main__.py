from riskstream.cli.main import main

main()
