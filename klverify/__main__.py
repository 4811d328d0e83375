import sys

from klverify.cli import main

sys.exit(main())
