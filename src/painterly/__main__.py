from painterly.cli.main import entry

entry()
