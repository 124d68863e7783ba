import sys

from xosan.cli import main

sys.exit(main())
