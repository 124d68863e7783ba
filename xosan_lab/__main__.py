import sys

from xosan_lab.cli import main

sys.exit(main())
