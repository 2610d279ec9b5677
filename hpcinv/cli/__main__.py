import sys

from hpcinv.cli import main

sys.exit(main())
