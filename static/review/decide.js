// decide.js: see the header of each script once written.
