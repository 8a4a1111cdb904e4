"""Inputs and outputs: natural images and sounds in, metamers out, with the conversions and their notices."""
