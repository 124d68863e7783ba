import sys

from xosan.cli.main import main

sys.exit(main())
